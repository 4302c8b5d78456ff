import type { IncomingHttpHeaders } from 'node:http';
import { AppError, Type, type ServiceApp, type Static, type UpstreamClient } from '@bazaar/chassis';
import { consumingServices, routeFor, routeTable, topology, type ServiceName } from '@bazaar/topology';
import { DeadLetterSummary as ServiceDeadLetter, ReplayOutcome as ServiceReplayOutcome } from '@bazaar/contracts/messages';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';


/** Where the gateway serves the dead-letter queue of the whole system. */
export const DLQ_BASE = '/api/admin/dlq';

export interface DeadLetterRoutesOptions {
  upstreams: ReadonlyMap<ServiceName, UpstreamClient>;
  /** Time a service gets to answer a list, an inspection, one replay or a discard. */
  timeoutMs: number;
  /** Time a service gets to replay its whole queue. */
  replayTimeoutMs: number;
}

/** A service with a dead-letter queue: how to reach it and where its DLQ routes live. */
interface Target {
  service: ServiceName;
  upstream: UpstreamClient;
  /** The service's own DLQ base, as the chassis installs it: `<first route prefix>/admin/dlq`. */
  base: string;
}

/**
 * Every consuming service the gateway can reach, from the topology: the chassis
 * gives each of them DLQ routes under its first route prefix (a consuming service
 * without routes has none, so it is left out).
 */
export function deadLetterTargets(upstreams: ReadonlyMap<ServiceName, UpstreamClient>): Map<ServiceName, Target> {
  const targets = new Map<ServiceName, Target>();
  for (const service of consumingServices) {
    const prefix = (topology[service].routes as readonly string[])[0];
    const upstream = upstreams.get(service);
    if (prefix && upstream) targets.set(service, { service, upstream, base: `${prefix}/admin/dlq` });
  }
  return targets;
}

const ServiceNameParam = Type.String({ pattern: '^[a-z][a-z0-9-]*$', maxLength: 60, description: 'A service that consumes messages' });
const MessageNameParam = Type.String({ minLength: 1, maxLength: 200, description: 'A message contract name, e.g. identity.user-registered.v1' });
const ItemParams = Type.Object({ service: ServiceNameParam, id: Type.String({ format: 'uuid' }) });

// The gateway gathers; whatever a service adds to its summaries is passed on.
const DeadLetterSummary = Type.Object(ServiceDeadLetter.properties, { additionalProperties: true });
const ServiceStatuses = Type.Record(Type.String(), Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]), {
  description: 'Every service asked, and whether it answered; an unavailable service contributes nothing to the answer',
});
const ReplayOutcome = Type.Object({ service: Type.String(), ...ServiceReplayOutcome.properties });

type Status = 'ok' | 'unavailable';
/** An item of a service's answer (a summary, a replay outcome), tagged with the service it came from. */
type Tagged = Record<string, unknown> & { service: ServiceName };
interface ServiceAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * `/api/admin/dlq`: the dead-letter queues of every consuming service in one
 * place. Admin only, checked here and again by each service (the caller's
 * Authorization header travels on). Lists and bulk replays fan out to every
 * consuming service and answer with what they got, naming the services that
 * could not be reached; single-letter calls are forwarded to the named service
 * and its answer (status and problem documents included) is passed back as is.
 */
export function installDeadLetterRoutes(app: ServiceApp, options: DeadLetterRoutesOptions): void {
  // The data plane takes every request under a routed prefix before Fastify sees it.
  const shadowedBy = routeFor(DLQ_BASE, routeTable());
  if (shadowedBy) throw new Error(`the topology routes ${shadowedBy.prefix} to ${shadowedBy.service}, which hides the gateway's own ${DLQ_BASE}`);

  const targets = deadLetterTargets(options.upstreams);
  const admin = app.requireRole('admin');
  const tags = ['dead-letter queue'];

  const targetFor = (service: string): Target => {
    const target = targets.get(service as ServiceName);
    if (!target) {
      const known = [...targets.keys()].join(', ') || 'none';
      throw new AppError('UNKNOWN_SERVICE', `"${service}" is not a service with a dead-letter queue (those are: ${known})`);
    }
    return target;
  };
  const selected = (service: string | undefined): Target[] => (service === undefined ? [...targets.values()] : [targetFor(service)]);

  app.get(
    DLQ_BASE,
    {
      onRequest: admin,
      schema: {
        tags,
        summary: 'Dead letters of every consuming service (or one), oldest first',
        description: 'A service that cannot be reached is reported as `unavailable` in `services`; the answer holds what the others sent.',
        querystring: Type.Object({
          service: Type.Optional(ServiceNameParam),
          messageName: Type.Optional(MessageNameParam),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 100, description: 'At most this many items (per service and in all)' }),
        }),
        response: { 200: Type.Object({ items: Type.Array(DeadLetterSummary), total: Type.Integer(), services: ServiceStatuses }) },
      },
    },
    async (request) => {
      const { service, messageName, limit } = request.query;
      const query = new URLSearchParams({ limit: String(limit) });
      if (messageName !== undefined) query.set('messageName', messageName);
      const answers = await gather(request, selected(service), async (target) => {
        const answer = await callService(target, request, { method: 'GET', path: `${target.base}?${query}`, timeoutMs: options.timeoutMs });
        const page = expectJson(answer) as { items?: unknown; total?: unknown };
        if (!Array.isArray(page.items) || typeof page.total !== 'number') throw new Error('answered an unexpected document');
        // The service a letter lives in is the one to address it through, whatever the item says.
        return { items: (page.items as Array<Record<string, unknown>>).map((item): Tagged => ({ ...item, service: target.service })), total: page.total };
      });
      const items = answers.flatMap(({ value }) => value?.items ?? []);
      items.sort(
        (a, b) =>
          compare(String(a['deadAt']), String(b['deadAt'])) || compare(a.service, b.service) || compare(String(a['id']), String(b['id'])),
      );
      return {
        items: items.slice(0, limit) as Array<Static<typeof DeadLetterSummary>>,
        total: answers.reduce((sum, { value }) => sum + (value?.total ?? 0), 0),
        services: statuses(answers),
      };
    },
  );

  app.post(
    `${DLQ_BASE}/replay`,
    {
      onRequest: admin,
      schema: {
        tags,
        summary: 'Replay every dead letter of every consuming service (or one, or of one message name)',
        description: 'Each service replays its own queue, oldest first. A service that cannot be reached is reported as `unavailable` in `services`.',
        // Fastify validates a missing body as null: allowing null is what makes the body optional.
        body: Type.Union([Type.Object({ service: Type.Optional(ServiceNameParam), messageName: Type.Optional(MessageNameParam) }, { additionalProperties: false }), Type.Null()]),
        response: {
          200: Type.Object({ replayed: Type.Integer(), failed: Type.Integer(), results: Type.Array(ReplayOutcome), services: ServiceStatuses }),
        },
      },
    },
    async (request) => {
      const messageName = request.body?.messageName;
      const answers = await gather(request, selected(request.body?.service), async (target) => {
        const answer = await callService(target, request, {
          method: 'POST',
          path: `${target.base}/replay`,
          body: messageName === undefined ? {} : { messageName },
          timeoutMs: options.replayTimeoutMs,
        });
        const outcome = expectJson(answer) as { results?: unknown };
        if (!Array.isArray(outcome.results)) throw new Error('answered an unexpected document');
        return (outcome.results as Array<Record<string, unknown>>).map((result): Tagged => ({ ...result, service: target.service }));
      });
      const results = answers.flatMap(({ value }) => value ?? []);
      const failed = results.filter((r) => r['outcome'] === 'failed').length;
      return { replayed: results.length - failed, failed, results: results as Array<Static<typeof ReplayOutcome>>, services: statuses(answers) };
    },
  );

  app.get(
    `${DLQ_BASE}/:service/:id`,
    {
      onRequest: admin,
      schema: {
        tags,
        summary: 'One dead letter of a service, with its message',
        params: ItemParams,
        response: { 200: Type.Intersect([DeadLetterSummary, Type.Object({ message: Type.Unknown({ description: 'The message as received' }) })]) },
      },
    },
    async (request, reply) => {
      const target = targetFor(request.params.service);
      return relay(reply, await callService(target, request, { method: 'GET', path: `${target.base}/${request.params.id}`, timeoutMs: options.timeoutMs }));
    },
  );

  app.post(
    `${DLQ_BASE}/:service/:id/replay`,
    {
      onRequest: admin,
      schema: {
        tags,
        summary: "Run a dead letter through its service's handler again",
        description: 'Answers 422 `DEAD_LETTER_REPLAY_FAILED` when the handler fails again; the letter then stays in the queue.',
        params: ItemParams,
        response: { 200: Type.Object({ id: Type.String(), outcome: Type.String({ description: 'delivered | duplicate' }) }) },
      },
    },
    async (request, reply) => {
      const target = targetFor(request.params.service);
      return relay(reply, await callService(target, request, { method: 'POST', path: `${target.base}/${request.params.id}/replay`, timeoutMs: options.timeoutMs }));
    },
  );

  app.delete(
    `${DLQ_BASE}/:service/:id`,
    {
      onRequest: admin,
      schema: { tags, summary: 'Discard a dead letter of a service for good', params: ItemParams, response: { 204: Type.Null({ description: 'Discarded' }) } },
    },
    async (request, reply) => {
      const target = targetFor(request.params.service);
      return relay(reply, await callService(target, request, { method: 'DELETE', path: `${target.base}/${request.params.id}`, timeoutMs: options.timeoutMs }));
    },
  );
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Runs `ask` against every target at once; a target that fails is logged and has no value. */
async function gather<T>(request: FastifyRequest, targets: Target[], ask: (target: Target) => Promise<T>): Promise<Array<{ service: ServiceName; value: T | undefined }>> {
  return Promise.all(
    targets.map(async (target) => {
      try {
        return { service: target.service, value: await ask(target) };
      } catch (error) {
        request.log.warn({ service: target.service, reason: (error as Error).message }, 'dead-letter queue of a service unavailable');
        return { service: target.service, value: undefined };
      }
    }),
  );
}

function statuses(answers: Array<{ service: ServiceName; value: unknown }>): Record<string, Status> {
  return Object.fromEntries(answers.map(({ service, value }) => [service, value === undefined ? 'unavailable' : 'ok']));
}

/**
 * One call to a service's DLQ routes over its keep-alive pool, on a deadline,
 * with the caller's Authorization header (the service checks the role too) and
 * the correlation id and trace context. A service that cannot be reached or is
 * too slow is a 502/504 problem naming it.
 */
async function callService(
  target: Target,
  request: FastifyRequest,
  call: { method: Dispatcher.HttpMethod; path: string; body?: unknown; timeoutMs: number },
): Promise<ServiceAnswer> {
  const headers: Record<string, string> = { accept: 'application/json', 'x-forwarded-for': request.ip, 'x-forwarded-proto': 'http' };
  if (request.headers.authorization) headers['authorization'] = request.headers.authorization;
  if (call.body !== undefined) headers['content-type'] = 'application/json';
  // Failures come back as problems naming the service (502/503/504) from the client's policies.
  return target.upstream.request({ method: call.method, path: call.path, headers, body: call.body, timeoutMs: call.timeoutMs });
}

/** The JSON document of a 200 answer; anything else is the service failing this call. */
function expectJson(answer: ServiceAnswer): unknown {
  if (answer.status !== 200) throw new Error(`answered ${answer.status}`);
  try {
    return JSON.parse(answer.body.toString('utf8'));
  } catch {
    throw new Error('answered something that is not JSON');
  }
}

/** Headers of a service's answer that mean something to the caller. */
const relayedHeaders = ['content-type', 'retry-after', 'www-authenticate', 'cache-control'];

/** Passes a service's answer back unchanged: status, body (problem documents included) and the headers that matter. */
function relay(reply: FastifyReply, answer: ServiceAnswer): FastifyReply {
  reply.code(answer.status);
  for (const name of relayedHeaders) {
    const value = answer.headers[name];
    if (value !== undefined) reply.header(name, value);
  }
  return answer.body.length === 0 ? reply.send() : reply.send(answer.body);
}
