/**
 * The payments service built for integration tests (`serviceHarness`: a fresh database,
 * test access tokens, the handlers run as the consumer runs them, the outbox read
 * back), with the messages and rows of payments.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { checkMessage, parseMessageName, type Envelope, type MessageData } from '@bazaar/contracts/messages';
import { auth, handle, newCustomer, outboxFor, serviceHarness, type Customer, type ServiceHarness, type ServiceHarnessOptions } from '@bazaar/runtime/testing/service-harness';
import { paymentsService } from '../app.ts';

export type PaymentCommand = 'payments.authorize-payment.v1' | 'payments.capture-payment.v1' | 'payments.void-payment.v1' | 'payments.refund-payment.v1';

export type Harness = ServiceHarness;
export { auth, handle, newCustomer, outboxFor, type Customer };

export function paymentsHarness(label: string, options: Omit<ServiceHarnessOptions, 'label'> = {}): Promise<Harness> {
  return serviceHarness(paymentsService, { ...options, label, env: { PAYMENTS_SLOW_CARD_DELAY_MS: '200', ...options.env } });
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
