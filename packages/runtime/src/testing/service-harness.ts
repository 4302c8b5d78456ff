/**
 * A service built in-process for integration tests: a fresh database with the
 * service's migrations, test access tokens in place of identity's JWKS, its routes
 * (through `app.inject`) and its message handlers, which `handle` runs inside a
 * transaction as the consumer does. The services' own harnesses add their commands,
 * events and row readers on top.
 */
import { randomUUID } from 'node:crypto';
import { EmbeddedBroker, createService, loadConfig, type BaseConfig, type Broker, type Database, type MessageContext, type MessageFlows, type MessageHandlers, type Role, type ServiceApp, type ServiceContext, type ServiceModule, type Static, type TObject } from '@bazaar/chassis';
import { messageName, type Envelope } from '@bazaar/contracts/messages';
import { freshDatabase } from './databases.ts';
import { testTokens, type TestTokens } from './tokens.ts';

export interface ServiceHarness {
  app: ServiceApp;
  context: ServiceContext;
  db: Database;
  /** The connection URL of the service's test database. */
  url: string;
  tokens: TestTokens;
  /** The service's message handlers, by message name. */
  handlers: MessageHandlers;
  /** The embedded broker the harness made (`embeddedBroker`). */
  broker: EmbeddedBroker | undefined;
  /** Closes the service (and the harness's broker) and drops its databases. */
  close(): Promise<void>;
}

export interface ServiceHarnessOptions {
  /** Names the test database (`t_<label>_<random>`). */
  label: string;
  /** Configuration beyond the defaults (SERVICE_NAME, PORT 0, an IDENTITY_URL nothing listens on). */
  env?: Record<string, string>;
  /** A broker for the service's consumer and relay; none by default. */
  broker?: Broker;
  /**
   * Or an embedded broker of the harness's own, on a test database of its own, with
   * `flows` declared before the service starts (as every service does at start: a
   * message published before its group is declared reaches no one).
   */
  embeddedBroker?: { pollMs: number; flows: MessageFlows };
  /** Runs the service's `onStart` (seed data, bootstrap accounts) before answering, as `npm start` does. */
  onStart?: boolean;
}

export async function serviceHarness<S extends TObject>(service: ServiceModule<S>, options: ServiceHarnessOptions): Promise<ServiceHarness> {
  const cleanups: Array<() => Promise<void>> = [];
  /** Undoes what was set up, last first; a second call finds nothing left to do. */
  const close = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  try {
    const database = await freshDatabase(options.label, service.migrations);
    cleanups.push(() => database.drop());
    let broker = options.broker;
    let ownBroker: EmbeddedBroker | undefined;
    if (options.embeddedBroker) {
      const brokerDatabase = await freshDatabase(`${options.label}_broker`);
      cleanups.push(() => brokerDatabase.drop());
      broker = ownBroker = new EmbeddedBroker(brokerDatabase.url, { pollMs: options.embeddedBroker.pollMs });
      cleanups.push(() => ownBroker!.close());
      await ownBroker.declare(options.embeddedBroker.flows);
    }
    const tokens = await testTokens();
    const config = loadConfig(service.configSchema, { SERVICE_NAME: service.name, PORT: '0', IDENTITY_URL: 'http://127.0.0.1:9', ...options.env }) as Static<S> & BaseConfig;
    const { app, context } = await createService({ ...service, accessTokens: () => tokens.verifier }, config, {
      db: database.db,
      logger: false,
      ...(broker ? { broker } : {}),
    });
    cleanups.push(() => app.close());
    if (options.onStart) await service.onStart?.(context);
    return {
      app,
      context: context as ServiceContext,
      db: database.db,
      url: database.url,
      tokens,
      handlers: service.messageHandlers?.(context) ?? {},
      broker: ownBroker,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

export interface Customer {
  userId: string;
  token: string;
}

export const auth = (token: string) => ({ authorization: `Bearer ${token}` });

/** A customer (or admin) of its own, with an access token. */
export async function newCustomer(harness: ServiceHarness, roles: Role[] = ['customer']): Promise<Customer> {
  const userId = randomUUID();
  return { userId, token: await harness.tokens.issue({ userId, roles }) };
}

/** Runs the handler of `envelope` as the consumer does: in one transaction (here without the inbox). */
export function handle(harness: ServiceHarness, envelope: Envelope, attempt = 1): Promise<void> {
  const name = messageName(envelope) as keyof MessageHandlers;
  const handler = harness.handlers[name] as ((data: unknown, context: MessageContext) => Promise<void>) | undefined;
  if (!handler) throw new Error(`${harness.context.config.SERVICE_NAME} has no handler of ${name}`);
  return harness.db.transaction((tx) => handler(envelope.data, { tx, envelope, outbox: harness.context.outbox, log: harness.context.log, attempt }));
}

/** The messages the service wrote to its outbox with key `key` (and name `name`, if given), oldest first. */
export async function outboxFor(harness: ServiceHarness, key: string, name?: string): Promise<Envelope[]> {
  const { rows } = await harness.db.query<{ body: string }>('SELECT body FROM outbox WHERE key = $1 AND ($2::text IS NULL OR message_name = $2) ORDER BY seq', [key, name ?? null]);
  return rows.map((row) => JSON.parse(row.body) as Envelope);
}
