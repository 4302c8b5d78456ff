/**
 * The shipping service built for integration tests, as the notifications tests
 * build theirs: a fresh database, test access tokens, the handlers called inside a
 * transaction as the consumer calls them, and the outbox read back.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createService, loadConfig, type Broker, type Database, type MessageHandlers, type ServiceApp, type ServiceContext } from '@bazaar/chassis';
import { checkMessage, parseMessageName, type Envelope, type MessageData, type MessageName } from '@bazaar/contracts/messages';
import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { testTokens, type TestTokens } from '@bazaar/runtime/testing/tokens';
import { shippingService } from '../app.ts';
import { ShippingConfig } from '../config.ts';

export type ShippingMessage = 'shipping.create-shipment.v1' | 'shipping.cancel-shipment.v1' | 'orders.order-confirmed.v1';

export interface Customer {
  userId: string;
  token: string;
}

export interface Harness {
  app: ServiceApp;
  context: ServiceContext;
  db: Database;
  tokens: TestTokens;
  handlers: MessageHandlers;
  close(): Promise<void>;
}

export async function shippingHarness(label: string, options: { broker?: Broker } = {}): Promise<Harness> {
  const service = await freshDatabase(label, shippingService.migrations);
  const tokens = await testTokens();
  const config = loadConfig(ShippingConfig, { SERVICE_NAME: 'shipping', PORT: '0', IDENTITY_URL: 'http://127.0.0.1:9' });
  const { app, context } = await createService({ ...shippingService, accessTokens: () => tokens.verifier }, config, {
    db: service.db,
    logger: false,
    ...(options.broker ? { broker: options.broker } : {}),
  });
  return {
    app,
    context: context as ServiceContext,
    db: service.db,
    tokens,
    handlers: shippingService.messageHandlers!(context),
    close: async () => {
      await app.close();
      await service.drop();
    },
  };
}

export const auth = (token: string) => ({ authorization: `Bearer ${token}` });

export async function newCustomer(harness: Harness, roles: Array<'customer' | 'admin'> = ['customer']): Promise<Customer> {
  const userId = randomUUID();
  return { userId, token: await harness.tokens.issue({ userId, roles }) };
}

/** The envelope of `name` as its publisher writes it: commands addressed to shipping with a reply address, events broadcast. */
export function envelopeOf<N extends ShippingMessage>(name: N, data: MessageData<N>, options: { replyTo?: string | null } = {}): Envelope {
  const isCommand = name.startsWith('shipping.');
  const replyTo = options.replyTo === undefined ? 'orders' : options.replyTo;
  const envelope: Envelope = {
    id: randomUUID(),
    ...parseMessageName(name),
    time: new Date().toISOString(),
    key: data.orderId,
    correlationId: randomUUID(),
    causationId: null,
    ...(isCommand ? { destination: 'shipping' } : {}),
    ...(isCommand && replyTo ? { replyTo } : {}),
    data,
  };
  const checked = checkMessage(envelope);
  assert.ok(checked.ok, `the test envelope matches its contract: ${JSON.stringify(checked)}`);
  return envelope;
}

type CreateShipment = MessageData<'shipping.create-shipment.v1'>;

/** A create-shipment command for a fresh order of `customerId`, to `country`. */
export function createShipment(customerId: string, changes: { orderId?: string; country?: string; city?: string } = {}): CreateShipment {
  return {
    orderId: changes.orderId ?? randomUUID(),
    customerId,
    address: { name: 'Ada Lovelace', line1: '12 St James Square', city: changes.city ?? 'London', postalCode: 'SW1Y 4JH', country: changes.country ?? 'GB' },
    lines: [{ productId: randomUUID(), quantity: 2 }],
  };
}

/** The order-confirmed event orders publishes for `orderId`. */
export function orderConfirmed(orderId: string, customerId: string): MessageData<'orders.order-confirmed.v1'> {
  const unitPrice = { amount: 1250, currency: 'EUR' };
  return {
    orderId,
    customerId,
    total: { amount: 2500, currency: 'EUR' },
    lines: [{ productId: randomUUID(), name: 'Teapot', quantity: 2, unitPrice }],
    confirmedAt: new Date().toISOString(),
  };
}

/** Runs the handler of `envelope` as the consumer does: in one transaction (here without the inbox). */
export function handle(harness: Harness, envelope: Envelope, attempt = 1): Promise<void> {
  const name = `${envelope.type}.v${envelope.version}` as ShippingMessage;
  const handler = harness.handlers[name] as (data: unknown, context: Parameters<NonNullable<MessageHandlers[ShippingMessage]>>[1]) => Promise<void>;
  return harness.db.transaction((tx) => handler(envelope.data, { tx, envelope, outbox: harness.context.outbox, log: harness.context.log, attempt }));
}

/** The messages shipping wrote to its outbox for `orderId`, oldest first. */
export async function outboxFor(harness: Harness, orderId: string, name?: MessageName): Promise<Envelope[]> {
  const { rows } = await harness.db.query<{ body: string }>(
    'SELECT body FROM outbox WHERE key = $1 AND ($2::text IS NULL OR message_name = $2) ORDER BY seq',
    [orderId, name ?? null],
  );
  return rows.map((row) => JSON.parse(row.body) as Envelope);
}

export interface ShipmentRow {
  id: string;
  order_id: string;
  customer_id: string | null;
  status: string;
  tracking_number: string | null;
  carrier: string;
  address: Record<string, string> | null;
  lines: unknown;
  reject_code: string | null;
  cancelled_at: Date | null;
  dispatched_at: Date | null;
}

/** Every shipment row of `orderId` (the schema allows one; tests check it). */
export async function shipmentRows(harness: Harness, orderId: string): Promise<ShipmentRow[]> {
  const { rows } = await harness.db.query<ShipmentRow>('SELECT * FROM shipments WHERE order_id = $1', [orderId]);
  return rows;
}
