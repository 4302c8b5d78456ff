/**
 * The facts of an order's life, as appended to its stream. An event's shape never
 * changes once written: a new shape is a new schema version, and an upcaster turns
 * the old one into the new one when a stream is loaded.
 */
import type { Money } from '@bazaar/contracts';

export interface PricedLine {
  productId: string;
  name: string;
  quantity: number;
  /** The catalog's price when the order was placed, frozen on the order. */
  unitPrice: Money;
}

export interface Address {
  name: string;
  line1: string;
  city: string;
  postalCode: string;
  country: string;
}

/** What orders keeps of the card: the processor's token, brand and last four. */
export interface PaymentMethod {
  token: string;
  brand: string;
  last4: string;
}

export type CheckoutStep = 'reserve-stock' | 'authorize-payment' | 'create-shipment' | 'capture-payment' | 'commit-stock';
export type Compensation = 'cancel-shipment' | 'void-payment' | 'refund-payment' | 'release-stock';

export interface OrderEventMap {
  OrderPlaced: { customerId: string; lines: PricedLine[]; total: Money; shippingAddress: Address; payment: PaymentMethod; placedAt: string };
  CheckoutStepSucceeded: { step: CheckoutStep; paymentId?: string; shipmentId?: string; trackingNumber?: string };
  /** A step answered no, or did not answer in time (`code` STEP_TIMED_OUT: its effect is unknown). */
  CheckoutStepFailed: { step: CheckoutStep; code: string; reason: string };
  CancellationRequested: { by: 'customer' };
  CompensationSucceeded: { compensation: Compensation };
  OrderConfirmed: { confirmedAt: string };
  OrderCancelled: { code: string; reason: string; cancelledAt: string };
}

export type OrderEventType = keyof OrderEventMap;
export type OrderEvent = { [T in OrderEventType]: { type: T; data: OrderEventMap[T] } }[OrderEventType];

/** The schema version each event is written with today. */
export const currentSchemaVersion: Record<OrderEventType, number> = {
  OrderPlaced: 2,
  CheckoutStepSucceeded: 1,
  CheckoutStepFailed: 1,
  CancellationRequested: 1,
  CompensationSucceeded: 1,
  OrderConfirmed: 1,
  OrderCancelled: 1,
};

/** An event as stored: any schema version. */
export interface StoredEvent {
  type: string;
  schemaVersion: number;
  data: unknown;
  version: number;
  recordedAt: Date;
}

type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

/**
 * Upcasters by `Type@fromVersion`, each lifting one version. OrderPlaced v1 (the
 * first release) kept prices as bare numbers beside one currency and the payment
 * token alone; v2 carries Money everywhere and the card's brand and last four.
 */
const upcasters: Record<string, Upcaster> = {
  'OrderPlaced@1': (v1) => {
    const currency = String(v1['currency']);
    const items = v1['items'] as Array<{ productId: string; name: string; quantity: number; price: number }>;
    return {
      customerId: v1['customerId'],
      lines: items.map((item) => ({ productId: item.productId, name: item.name, quantity: item.quantity, unitPrice: { amount: item.price, currency } })),
      total: { amount: v1['total'], currency },
      shippingAddress: v1['shippingAddress'],
      payment: { token: v1['paymentToken'], brand: 'unknown', last4: '0000' },
      placedAt: v1['placedAt'],
    };
  },
};

export class UnknownEventVersionError extends Error {}

/** The event in its current shape, whatever version it was written in. */
export function upcast(stored: Pick<StoredEvent, 'type' | 'schemaVersion' | 'data'>): OrderEvent {
  const type = stored.type as OrderEventType;
  const target = currentSchemaVersion[type];
  if (target === undefined) throw new UnknownEventVersionError(`unknown order event type ${stored.type}`);
  let data = stored.data as Record<string, unknown>;
  for (let version = stored.schemaVersion; version < target; version++) {
    const lift = upcasters[`${type}@${version}`];
    if (!lift) throw new UnknownEventVersionError(`no upcaster for ${type} v${version}`);
    data = lift(data);
  }
  if (stored.schemaVersion > target) throw new UnknownEventVersionError(`${type} v${stored.schemaVersion} is newer than this code (v${target})`);
  return { type, data } as OrderEvent;
}
