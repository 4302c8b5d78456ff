/**
 * A shipment and how it answers checkout. One shipment per order: each command
 * is answered from its current state, so handling a command again answers as the
 * first time and never acts twice (docs/checkout.md, "Participants are idempotent").
 */
import { Type, type Static } from '@bazaar/chassis';
import type { MessageData } from '@bazaar/contracts/messages';

export type ShipmentStatus = 'BOOKED' | 'CANCELLED' | 'DISPATCHED' | 'REJECTED';

export interface Address {
  name: string;
  line1: string;
  city: string;
  postalCode: string;
  country: string;
}

export interface Line {
  productId: string;
  quantity: number;
}

export interface Shipment {
  id: string;
  orderId: string;
  /** Null only for a tombstone. */
  customerId: string | null;
  status: ShipmentStatus;
  /** Null when the carrier refused the booking, and for a tombstone. */
  trackingNumber: string | null;
  carrier: string;
  address: Address | null;
  lines: Line[] | null;
  rejectCode: string | null;
  rejectReason: string | null;
  createdAt: Date;
  cancelledAt: Date | null;
  dispatchedAt: Date | null;
}

type BookingResult = Omit<MessageData<'shipping.create-shipment-result.v1'>, 'orderId'>;
export type CancellationResult = Omit<MessageData<'shipping.cancel-shipment-result.v1'>, 'orderId'>;

/** The answer to create-shipment for an order that already has a shipment row: the first answer again. */
export function bookingResult(shipment: Shipment): BookingResult {
  switch (shipment.status) {
    case 'BOOKED':
    case 'DISPATCHED':
      return { outcome: 'succeeded', shipmentId: shipment.id, trackingNumber: shipment.trackingNumber! };
    case 'REJECTED':
      return { outcome: 'failed', code: shipment.rejectCode!, reason: shipment.rejectReason! };
    case 'CANCELLED':
      // Cancelled, or a tombstone: the create command is late (a replayed dead letter, say).
      return { outcome: 'failed', code: 'ORDER_CLOSED', reason: 'This order was cancelled; no shipment will be booked for it.' };
  }
}

export type Cancellation =
  | { action: 'cancel'; shipment: Shipment }
  | { action: 'record-tombstone' }
  | { action: 'nothing' }
  | { action: 'refuse'; result: CancellationResult };

/** What cancel-shipment does to the order's shipment (none yet: undefined). */
export function cancellation(shipment: Shipment | undefined): Cancellation {
  if (!shipment) return { action: 'record-tombstone' };
  switch (shipment.status) {
    case 'BOOKED':
      return { action: 'cancel', shipment };
    case 'CANCELLED':
    case 'REJECTED':
      return { action: 'nothing' };
    case 'DISPATCHED':
      return {
        action: 'refuse',
        result: {
          outcome: 'failed',
          code: 'ALREADY_DISPATCHED',
          reason: `The parcel has already left with ${shipment.carrier} (tracking number ${shipment.trackingNumber}) and can no longer be cancelled.`,
        },
      };
  }
}

export type Dispatch = { action: 'dispatch'; shipment: Shipment } | { action: 'nothing' } | { action: 'cannot'; why: string };

/** What the order's confirmation does to its shipment: a booked one leaves with the carrier. */
export function dispatch(shipment: Shipment | undefined): Dispatch {
  if (!shipment) return { action: 'cannot', why: 'the order has no shipment' };
  switch (shipment.status) {
    case 'BOOKED':
      return { action: 'dispatch', shipment };
    case 'DISPATCHED':
      return { action: 'nothing' };
    case 'CANCELLED':
    case 'REJECTED':
      return { action: 'cannot', why: `its shipment is ${shipment.status}` };
  }
}

export const ShipmentView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  orderId: Type.String({ format: 'uuid' }),
  status: Type.Union([Type.Literal('BOOKED'), Type.Literal('CANCELLED'), Type.Literal('DISPATCHED'), Type.Literal('REJECTED')]),
  trackingNumber: Type.Union([Type.String(), Type.Null()], { description: 'Null when the carrier refused the booking' }),
  carrier: Type.String(),
  destination: Type.Union([Type.Object({ city: Type.String(), country: Type.String() }), Type.Null()], {
    description: 'Null only for a cancellation recorded before any booking (seen by admins only)',
  }),
  createdAt: Type.String({ format: 'date-time' }),
  dispatchedAt: Type.Optional(Type.String({ format: 'date-time' })),
  cancelledAt: Type.Optional(Type.String({ format: 'date-time' })),
});
export type ShipmentView = Static<typeof ShipmentView>;

export function toView(shipment: Shipment): ShipmentView {
  return {
    id: shipment.id,
    orderId: shipment.orderId,
    status: shipment.status,
    trackingNumber: shipment.trackingNumber,
    carrier: shipment.carrier,
    destination: shipment.address && { city: shipment.address.city, country: shipment.address.country },
    createdAt: shipment.createdAt.toISOString(),
    ...(shipment.dispatchedAt ? { dispatchedAt: shipment.dispatchedAt.toISOString() } : {}),
    ...(shipment.cancelledAt ? { cancelledAt: shipment.cancelledAt.toISOString() } : {}),
  };
}
