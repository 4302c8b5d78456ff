import { AppError, FAULT_ERROR_CODES, FAULT_LIMITS, FaultSpecError, Type, clearFault, faultStatus, setFault, validateFaultSpec, type Discovery, type FaultStatus, type ServiceApp, type ServiceInstance } from '@bazaar/chassis';
import { routeFor, routeTable, serviceNames, type ServiceName } from '@bazaar/topology';

/** Where an admin breaks services of a running system on purpose (docs/chaos.md). */
export const FAULTS_PATH = '/api/admin/faults';

/** Time each instance gets to answer a control request; a hung one is reported, not waited for. */
const CONTROL_TIMEOUT_MS = 2_000;

/**
 * The services a fault can be set on from here: every one but the gateway, whose
 * fault would cut off the page and the API that set it (`npm run chaos -- --target
 * gateway` still can).
 */
export const faultTargets = serviceNames.filter((service) => service !== 'gateway') as Exclude<ServiceName, 'gateway'>[];

const TargetParams = Type.Object({ service: Type.Union(faultTargets.map((service) => Type.Literal(service)), { description: 'The service to break (not the gateway)' }) });
const InstanceQuery = Type.Object({
  instance: Type.Optional(Type.String({ minLength: 1, maxLength: 300, description: 'Only this instance (its id in /api/admin/registry); all instances without it' })),
});

/**
 * A fault as the instances' control endpoint takes it (chassis `FaultSpec`), except
 * that `forMs` is required: a fault set through the API always ends by itself, so a
 * closed browser tab cannot leave a service broken.
 */
const FaultSpecBody = Type.Object(
  {
    latencyMs: Type.Optional(Type.Integer({ minimum: 0, maximum: FAULT_LIMITS.maxDelayMs, description: 'Delay added before each matched request is handled' })),
    jitterMs: Type.Optional(Type.Integer({ minimum: 0, maximum: FAULT_LIMITS.maxDelayMs, description: 'A random extra delay up to this' })),
    errorRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Share of matched requests answered with errorStatus' })),
    errorStatus: Type.Optional(Type.Union(Object.keys(FAULT_ERROR_CODES).map((status) => Type.Literal(Number(status))), { description: 'Status of the injected errors (503 by default)' })),
    resetRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Share of matched requests whose connection is reset' })),
    blackholeRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Share of matched requests never answered while the fault lasts' })),
    from: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$', description: 'Only requests from this service (the gateway is "gateway")' })),
    pathPrefix: Type.Optional(Type.String({ pattern: '^/[^?#\\s]*$', maxLength: 512, description: 'Only requests whose path starts with this' })),
    forMs: Type.Integer({ minimum: 1_000, maximum: FAULT_LIMITS.maxForMs, description: 'The fault ends by itself after this long (required here)' }),
  },
  { additionalProperties: false },
);

const Counters = Type.Object({ seen: Type.Integer(), matched: Type.Integer(), delayed: Type.Integer(), errored: Type.Integer(), reset: Type.Integer(), blackholed: Type.Integer() });
const InstanceFault = Type.Object({
  service: Type.String(),
  id: Type.String(),
  url: Type.String(),
  pid: Type.Integer(),
  replica: Type.Optional(Type.String()),
  fault: Type.Optional(Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], { description: 'The active fault, or null' })),
  setAt: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  expiresAt: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  ended: Type.Optional(Type.Union([Type.Object({ at: Type.String(), reason: Type.String() }), Type.Null()])),
  counters: Type.Optional(Counters),
  held: Type.Optional(Type.Integer({ description: 'Requests held right now (delayed or blackholed)' })),
  error: Type.Optional(Type.String({ description: 'Why this instance could not be asked or told' })),
});
const FaultsAnswer = Type.Object({
  targets: Type.Array(Type.String(), { description: 'The services a fault can be set on here' }),
  instances: Type.Array(InstanceFault),
});

export interface FaultRoutesOptions {
  discovery: Discovery;
}

/**
 * `/api/admin/faults` (admin only, and only where the gateway runs with
 * FAULT_INJECTION=true, as under `npm start`): the faults of every instance, and
 * setting or ending one on every instance of a service (or one of them) — what
 * `npm run chaos` does, for the web app's Operations page. The gateway talks to
 * each instance's `/internal/faults`, which answers only clients on its own
 * machine; without FAULT_INJECTION these routes do not exist.
 */
export function installFaultRoutes(app: ServiceApp, options: FaultRoutesOptions): void {
  const shadowedBy = routeFor(FAULTS_PATH, routeTable());
  if (shadowedBy) throw new Error(`the topology routes ${shadowedBy.prefix} to ${shadowedBy.service}, which hides the gateway's own ${FAULTS_PATH}`);
  const { discovery } = options;
  const admin = app.requireRole('admin');
  const tags = ['fault injection'];

  /** Every instance of `service` a fault reaches: the registry's live ones, whatever their status, else the configured URL. */
  const instancesOf = (service: string): ServiceInstance[] => {
    const live = discovery.all().filter((instance) => instance.service === service);
    return live.length > 0 ? live : [...discovery.instances(service)];
  };

  const chosen = (service: string, instanceId: string | undefined): ServiceInstance[] => {
    const instances = instancesOf(service);
    if (instances.length === 0) throw new AppError('SERVICE_UNAVAILABLE', `No instance of ${service} is registered`);
    if (instanceId === undefined) return instances;
    const instance = instances.find((candidate) => candidate.id === instanceId);
    if (!instance) throw new AppError('INSTANCE_NOT_FOUND', `${service} has no instance ${instanceId} (see /api/admin/registry)`);
    return [instance];
  };

  /** Runs one control request on each instance; a change that reached none of them is a 502. */
  const onEach = async (instances: ServiceInstance[], control: (url: string) => Promise<FaultStatus>, change: boolean) => {
    const answers = await Promise.all(
      instances.map(async (instance) => {
        try {
          return describe(instance, await control(instance.url));
        } catch (error) {
          return describe(instance, undefined, (error as Error).message);
        }
      }),
    );
    if (change && answers.every((answer) => answer.error !== undefined)) {
      throw new AppError('UPSTREAM_UNAVAILABLE', answers.map((answer) => answer.error).join('; '));
    }
    return { targets: faultTargets, instances: answers };
  };

  app.get(
    FAULTS_PATH,
    { onRequest: admin, schema: { tags, summary: 'The fault of every service instance, with its counters', response: { 200: FaultsAnswer } } },
    async () => {
      const services = new Set<string>([...faultTargets, ...discovery.all().map((instance) => instance.service)]);
      const instances = [...services].flatMap((service) => instancesOf(service));
      return onEach(instances, (url) => faultStatus(url, { timeoutMs: CONTROL_TIMEOUT_MS }), false);
    },
  );

  app.put(
    `${FAULTS_PATH}/:service`,
    {
      onRequest: admin,
      schema: {
        tags,
        summary: 'Break every instance of a service (or one) on purpose, for a while; replaces the fault it had',
        params: TargetParams,
        querystring: InstanceQuery,
        body: FaultSpecBody,
        response: { 200: FaultsAnswer },
      },
    },
    async (request) => {
      let spec;
      try {
        // What a schema cannot say: rates sharing one whole, a status needing a rate, a fault that does something.
        spec = validateFaultSpec(request.body);
      } catch (error) {
        if (error instanceof FaultSpecError) throw new AppError('VALIDATION_FAILED', error.message, { errors: error.errors });
        throw error;
      }
      const { service } = request.params;
      request.log.warn({ service, instance: request.query.instance ?? 'all', fault: spec, by: request.principal?.userId }, 'fault injected through the API');
      return onEach(chosen(service, request.query.instance), (url) => setFault(url, spec, { timeoutMs: CONTROL_TIMEOUT_MS }), true);
    },
  );

  app.delete(
    `${FAULTS_PATH}/:service`,
    { onRequest: admin, schema: { tags, summary: 'End the fault of every instance of a service (or one); held requests go through', params: TargetParams, querystring: InstanceQuery, response: { 200: FaultsAnswer } } },
    async (request) => onEach(chosen(request.params.service, request.query.instance), (url) => clearFault(url, { timeoutMs: CONTROL_TIMEOUT_MS }), true),
  );

  app.delete(
    FAULTS_PATH,
    { onRequest: admin, schema: { tags, summary: 'End every fault the API can set (every service but the gateway)', response: { 200: FaultsAnswer } } },
    async () => onEach(faultTargets.flatMap((service) => instancesOf(service)), (url) => clearFault(url, { timeoutMs: CONTROL_TIMEOUT_MS }), true),
  );
}

function describe(instance: ServiceInstance, status?: FaultStatus, error?: string) {
  const replica = instance.metadata['replica'];
  return {
    service: instance.service,
    id: instance.id,
    url: instance.url,
    pid: instance.pid,
    ...(replica !== undefined ? { replica } : {}),
    ...(status ? { fault: status.fault, setAt: status.setAt, expiresAt: status.expiresAt, ended: status.ended, counters: status.counters, held: status.held } : {}),
    ...(error !== undefined ? { error } : {}),
  };
}
