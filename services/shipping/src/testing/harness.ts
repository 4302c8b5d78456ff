/**
 * The shipping service built for integration tests (`serviceHarness`: a fresh database,
 * test access tokens, the handlers run as the consumer runs them, the outbox read
 * back), with the messages and rows of shipping.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { checkMessage, parseMessageName, type Envelope, type MessageData } from '@bazaar/contracts/messages';
import { auth, handle, newCustomer, outboxFor, serviceHarness, type Customer, type ServiceHarness, type ServiceHarnessOptions } from '@bazaar/runtime/testing/service-harness';
import { shippingService } from '../app.ts';

export type ShippingMessage = 'shipping.create-shipment.v1' | 'shipping.cancel-shipment.v1' | 'orders.order-confirmed.v1';

export type Harness = ServiceHarness;
export { auth, handle, newCustomer, outboxFor, type Customer };

export function shippingHarness(label: string, options: Omit<ServiceHarnessOptions, 'label'> = {}): Promise<Harness> {
  return serviceHarness(shippingService, { ...options, label });
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
