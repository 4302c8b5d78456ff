/**
 * The payments service built for integration tests, as the notifications tests
 * build theirs: a fresh database, test access tokens, the handlers called inside a
 * transaction as the consumer calls them, and the outbox read back.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createService, loadConfig, type Broker, type Database, type MessageHandlers, type ServiceApp, type ServiceContext } from '@bazaar/chassis';
import { checkMessage, parseMessageName, type Envelope, type MessageData, type MessageName } from '@bazaar/contracts/messages';
import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { testTokens, type TestTokens } from '@bazaar/runtime/testing/tokens';
import { paymentsService } from '../app.ts';
import { PaymentsConfig } from '../config.ts';

export type PaymentCommand = 'payments.authorize-payment.v1' | 'payments.capture-payment.v1' | 'payments.void-payment.v1' | 'payments.refund-payment.v1';

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

export async function paymentsHarness(label: string, options: { env?: Record<string, string>; broker?: Broker } = {}): Promise<Harness> {
  const service = await freshDatabase(label, paymentsService.migrations);
  const tokens = await testTokens();
  const config = loadConfig(PaymentsConfig, { SERVICE_NAME: 'payments', PORT: '0', IDENTITY_URL: 'http://127.0.0.1:9', PAYMENTS_SLOW_CARD_DELAY_MS: '200', ...options.env });
  const { app, context } = await createService({ ...paymentsService, accessTokens: () => tokens.verifier }, config, {
    db: service.db,
    logger: false,
    ...(options.broker ? { broker: options.broker } : {}),
  });
  return {
    app,
    context: context as ServiceContext,
    db: service.db,
    tokens,
    handlers: paymentsService.messageHandlers!(context),
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

/** Tokenizes `cardNumber` for `customer` through the route, as orders does. */
export async function tokenize(harness: Harness, customer: Customer, cardNumber = '4242 4242 4242 4242'): Promise<string> {
  const res = await harness.app.inject({
    method: 'POST',
    url: '/api/payments/tokens',
    headers: auth(customer.token),
    payload: { cardNumber, expMonth: 12, expYear: new Date().getUTCFullYear() + 3, cvc: '123' },
  });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().token as string;
}

/** The envelope of a command as the saga in orders writes it. */
export function command<N extends PaymentCommand>(name: N, data: MessageData<N>, replyTo: string | undefined = 'orders'): Envelope {
  const envelope: Envelope = {
    id: randomUUID(),
    ...parseMessageName(name),
    time: new Date().toISOString(),
    key: data.orderId,
    correlationId: randomUUID(),
    causationId: null,
    destination: 'payments',
    ...(replyTo ? { replyTo } : {}),
    data,
  };
  const checked = checkMessage(envelope);
  assert.ok(checked.ok, `the test envelope matches its contract: ${JSON.stringify(checked)}`);
  return envelope;
}

/** Runs the handler of `envelope` as the consumer does: in one transaction (here without the inbox). */
export function handle(harness: Harness, envelope: Envelope, attempt = 1): Promise<void> {
  const name = `${envelope.type}.v${envelope.version}` as PaymentCommand;
  const handler = harness.handlers[name] as (data: unknown, context: Parameters<NonNullable<MessageHandlers[PaymentCommand]>>[1]) => Promise<void>;
  return harness.db.transaction((tx) => handler(envelope.data, { tx, envelope, outbox: harness.context.outbox, log: harness.context.log, attempt }));
}

/** The messages payments wrote to its outbox for `orderId`, oldest first. */
export async function outboxFor(harness: Harness, orderId: string, name?: MessageName): Promise<Envelope[]> {
  const { rows } = await harness.db.query<{ body: string }>(
    'SELECT body FROM outbox WHERE key = $1 AND ($2::text IS NULL OR message_name = $2) ORDER BY seq',
    [orderId, name ?? null],
  );
  return rows.map((row) => JSON.parse(row.body) as Envelope);
}

export interface PaymentRow {
  id: string;
  order_id: string;
  customer_id: string | null;
  amount: string;
  currency: string | null;
  status: string;
  brand: string | null;
  last4: string | null;
  decline_code: string | null;
  authorized_amount: string | null;
  captured_amount: string;
  refunded_amount: string;
}

/** Every payment row of `orderId` (the schema allows one; tests check it). */
export async function paymentRows(harness: Harness, orderId: string): Promise<PaymentRow[]> {
  const { rows } = await harness.db.query<PaymentRow>('SELECT * FROM payments WHERE order_id = $1', [orderId]);
  return rows;
}
