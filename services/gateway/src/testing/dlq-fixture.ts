/**
 * A small system for dead-letter-queue tests, real servers in this process: a
 * service named `notifications` built with the chassis (its inbox, consumer and
 * DLQ routes) whose message handlers (`identity.user-registered.v1` among them)
 * fail until told otherwise, the embedded broker on a fresh database, a stand-in
 * identity that answers logins, and the gateway in front of them, each listening
 * on a port. Used by the gateway's DLQ tests and by the `npm run dlq` CLI test.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BaseConfig, EmbeddedBroker, MESSAGING_MIGRATIONS, createService, loadConfig, migrate, type MessageContext, type MessageHandlers } from '@bazaar/chassis';
import type { Envelope } from '@bazaar/contracts/messages';
import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { eventually } from '@bazaar/runtime/testing/eventually';
import { testTokens, type TestTokens } from '@bazaar/runtime/testing/tokens';
import { messageFlows, routedServices, serviceUrlVariable, topology, type ServiceName } from '@bazaar/topology';
import { createGatewayService } from '../app.ts';
import { GatewayConfig } from '../config.ts';

/** Nothing listens here: a service "down". */
export const UNREACHABLE_URL = 'http://127.0.0.1:9';

export interface DlqFixture {
  gatewayUrl: string;
  tokens: TestTokens;
  /** An admin account the stand-in identity accepts at POST /api/identity/login, and a token of it. */
  admin: { email: string; password: string; token: string };
  customerToken: string;
  /** The test handler: fails while `failing`; records the message ids it handled. */
  handler: { failing: boolean; handled: string[] };
  /** Publishes a valid `identity.user-registered.v1` and waits until notifications dead-lettered it; its dead letter's id. */
  deadLetterOne(): Promise<{ deadLetterId: string; envelope: Envelope }>;
  /** Another gateway on the same token key, with the given upstream URLs (the others as in the fixture). */
  startGateway(urls: Partial<Record<ServiceName, string>>, env?: Record<string, string>): Promise<{ url: string; close(): Promise<void> }>;
  close(): Promise<void>;
}

export async function startDlqFixture(label = 'dlq'): Promise<DlqFixture> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    const tokens = await testTokens();
    const handler = { failing: true, handled: [] as string[] };

    const serviceDb = await freshDatabase(`${label}_notifications`);
    cleanups.push(serviceDb.drop);
    await migrate(serviceDb.db, MESSAGING_MIGRATIONS, { namespace: 'messaging' });
    const brokerDb = await freshDatabase(`${label}_broker`);
    cleanups.push(brokerDb.drop);
    const broker = new EmbeddedBroker(brokerDb.url, { pollMs: 200, connectionName: `${label}-broker` });
    cleanups.push(() => broker.close());
    await broker.declare(messageFlows());

    const { app: notifications } = await createService(
      {
        name: 'notifications',
        title: 'Notifications (DLQ test double)',
        description: 'Consumes identity.user-registered.v1 with a handler that fails on demand.',
        configSchema: BaseConfig,
        accessTokens: () => tokens.verifier,
        routes: async () => {},
        // One handler for everything the topology has notifications consume (the chassis insists they match).
        messageHandlers: () =>
          Object.fromEntries(
            topology.notifications.consumes.map((name) => [
              name,
              async (_data: unknown, { envelope }: MessageContext) => {
                if (handler.failing) throw new Error('the mail server is down');
                handler.handled.push(envelope.id);
              },
            ]),
          ) as MessageHandlers,
      },
      loadConfig(BaseConfig, { SERVICE_NAME: 'notifications', PORT: '0', MESSAGE_MAX_ATTEMPTS: '1', LOG_LEVEL: 'silent' }),
      { db: serviceDb.db, broker, logger: false },
    );
    cleanups.push(() => notifications.close());
    const notificationsUrl = await notifications.listen({ port: 0, host: '127.0.0.1' });

    const admin = { email: 'ops@example.com', password: `pw-${randomUUID()}`, token: await tokens.issue({ email: 'ops@example.com', roles: ['customer', 'admin'] }) };
    const identity = await standInIdentity(admin);
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          identity.server.close(() => resolve());
          identity.server.closeAllConnections();
        }),
    );

    const urls: Partial<Record<ServiceName, string>> = { identity: identity.url, notifications: notificationsUrl };
    const startGateway = async (overrides: Partial<Record<ServiceName, string>>, env: Record<string, string> = {}) => {
      const gatewayEnv: Record<string, string> = { SERVICE_NAME: 'gateway', PORT: '0', UPSTREAM_TIMEOUT_MS: '3000', RATE_LIMIT_PER_MINUTE: '10000', ...env };
      for (const service of routedServices) gatewayEnv[serviceUrlVariable(service)] = overrides[service] ?? urls[service] ?? UNREACHABLE_URL;
      const { app } = await createService({ ...createGatewayService(), accessTokens: () => tokens.verifier }, loadConfig(GatewayConfig, gatewayEnv), { logger: false });
      const url = await app.listen({ port: 0, host: '127.0.0.1' });
      return { url, close: () => app.close() };
    };
    const gateway = await startGateway({});
    cleanups.push(gateway.close);

    const deadLetterOne = async () => {
      const userId = randomUUID();
      const envelope: Envelope = {
        id: randomUUID(),
        type: 'identity.user-registered',
        version: 1,
        time: new Date().toISOString(),
        key: userId,
        correlationId: randomUUID(),
        causationId: null,
        data: { userId, email: `${userId.slice(0, 8)}@example.com`, name: 'Dee Letter', registeredAt: new Date().toISOString() },
      };
      await broker.publish([envelope]);
      const deadLetterId = await eventually(async () => {
        const { rows } = await serviceDb.db.query<{ id: string }>('SELECT id FROM dead_letters WHERE message_id = $1', [envelope.id]);
        return rows[0]?.id;
      }, `message ${envelope.id} to be dead-lettered`);
      return { deadLetterId, envelope };
    };

    return {
      gatewayUrl: gateway.url,
      tokens,
      admin,
      customerToken: await tokens.issue({ roles: ['customer'] }),
      handler,
      deadLetterOne,
      startGateway: async (overrides, env) => {
        const started = await startGateway(overrides, env);
        cleanups.push(started.close);
        return started;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Identity as far as the CLI needs it: POST /api/identity/login for one admin account. */
async function standInIdentity(admin: { email: string; password: string; token: string }): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      if (req.url === '/readyz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      if (req.method !== 'POST' || req.url !== '/api/identity/login') return void res.writeHead(404).end();
      let credentials: { email?: unknown; password?: unknown } = {};
      try {
        credentials = JSON.parse(body) as typeof credentials;
      } catch {
        // stays empty: refused below
      }
      if (credentials.email === admin.email && credentials.password === admin.password) {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        return void res.end(JSON.stringify({ accessToken: admin.token, tokenType: 'Bearer', expiresIn: 900, refreshToken: 'r'.repeat(43) }));
      }
      res.writeHead(401, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'urn:bazaar:problem:invalid-credentials', title: 'Email or password is incorrect', status: 401, code: 'INVALID_CREDENTIALS' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
