import type { MessageContext, MessageHandlers } from '@bazaar/chassis';
import type { MessageData } from '@bazaar/contracts/messages';
import { CARRIER, destination, newTrackingNumber } from '../domain/carrier.ts';
import { bookingResult, cancellation, dispatch, type CancellationResult, type Shipment } from '../domain/shipment.ts';
import { ShipmentRepository } from '../persistence/shipment-repository.ts';

/** Inserting the order's first row can lose a race (another delivery, a taken tracking number); then we look again. */
const INSERT_ATTEMPTS = 5;

/** Where a reply goes: the service that sent the command (checkout commands come from orders). */
function replyOptions(orderId: string, { envelope }: MessageContext) {
  return { key: orderId, destination: envelope.replyTo ?? 'orders' };
}

/** The order's shipment, booked with the carrier (or refused by it) the first time, as it is every time after. */
async function bookOnce(
  shipments: ShipmentRepository,
  command: MessageData<'shipping.create-shipment.v1'>,
  trackingNumber: () => string,
  { log }: MessageContext,
): Promise<Shipment> {
  const { orderId, customerId, address, lines } = command;
  for (let attempt = 1; attempt <= INSERT_ATTEMPTS; attempt++) {
    const existing = await shipments.lockForOrder(orderId);
    if (existing) {
      log.info({ orderId, status: existing.status }, 'create-shipment: the order already has a shipment; answering from it');
      return existing;
    }
    const carrier = destination(address.country);
    const inserted = await shipments.insert(
      carrier.served
        ? { orderId, customerId, status: 'BOOKED', trackingNumber: trackingNumber(), carrier: CARRIER, address, lines }
        : { orderId, customerId, status: 'REJECTED', trackingNumber: null, carrier: CARRIER, address, lines, reject: { code: carrier.code, reason: carrier.reason } },
    );
    if (inserted) {
      log.info({ orderId, shipmentId: inserted.id, status: inserted.status }, 'create-shipment: shipment recorded');
      return inserted;
    }
  }
  throw new Error(`create-shipment: could not record a shipment for order ${orderId} after ${INSERT_ATTEMPTS} attempts`);
}

/** Cancels the order's shipment, or records that the order is closed when there is none; the reply's outcome. */
async function cancelOnce(
  shipments: ShipmentRepository,
  { orderId, reason }: MessageData<'shipping.cancel-shipment.v1'>,
  { log }: MessageContext,
): Promise<CancellationResult> {
  for (let attempt = 1; attempt <= INSERT_ATTEMPTS; attempt++) {
    const shipment = await shipments.lockForOrder(orderId);
    const decision = cancellation(shipment);
    switch (decision.action) {
      case 'cancel':
        await shipments.transition(decision.shipment.id, 'BOOKED', 'CANCELLED');
        log.info({ orderId, shipmentId: decision.shipment.id, reason }, 'cancel-shipment: shipment cancelled');
        return { outcome: 'succeeded' };
      case 'record-tombstone':
        // Never booked here: remember the order is closed, so a late create-shipment is refused.
        if (!(await shipments.insert({ orderId, customerId: null, status: 'CANCELLED', trackingNumber: null, carrier: CARRIER, address: null, lines: null }))) continue;
        log.info({ orderId, reason }, 'cancel-shipment: no shipment for the order; recorded it cancelled');
        return { outcome: 'succeeded' };
      case 'nothing':
        log.info({ orderId, status: shipment?.status }, 'cancel-shipment: nothing to cancel');
        return { outcome: 'succeeded' };
      case 'refuse':
        log.warn({ orderId, status: shipment?.status }, 'cancel-shipment: the shipment has left; refused');
        return decision.result;
    }
  }
  // Each lost race leaves a row the next look finds, so this means the database misbehaves.
  throw new Error(`cancel-shipment: could not record the cancellation of order ${orderId} after ${INSERT_ATTEMPTS} attempts`);
}

/**
 * What shipping does with the messages it consumes. Each handler runs in the
 * consumer's transaction with the inbox record, so its effects and replies go
 * through `tx`. Every one is idempotent per order (docs/checkout.md). Tests may
 * pass the carrier's tracking-number draw, to make two bookings collide.
 */
export function shippingHandlers(options: { trackingNumber?: () => string } = {}): MessageHandlers {
  const trackingNumber = options.trackingNumber ?? newTrackingNumber;
  return {
    'shipping.create-shipment.v1': async (command, message) => {
      const { tx, outbox } = message;
      const shipment = await bookOnce(new ShipmentRepository(tx), command, trackingNumber, message);
      await outbox.add(tx, 'shipping.create-shipment-result.v1', { orderId: command.orderId, ...bookingResult(shipment) }, replyOptions(command.orderId, message));
    },

    'shipping.cancel-shipment.v1': async (command, message) => {
      const { tx, outbox } = message;
      const result = await cancelOnce(new ShipmentRepository(tx), command, message);
      await outbox.add(tx, 'shipping.cancel-shipment-result.v1', { orderId: command.orderId, ...result }, replyOptions(command.orderId, message));
    },

    'orders.order-confirmed.v1': async ({ orderId }, { tx, outbox, log }) => {
      const shipments = new ShipmentRepository(tx);
      const decision = dispatch(await shipments.lockForOrder(orderId));
      if (decision.action === 'nothing') {
        log.info({ orderId }, 'order confirmed: its shipment is already dispatched');
        return;
      }
      if (decision.action === 'cannot') {
        // Not retried: no delivery of this event would ever find a shipment to dispatch.
        log.warn({ orderId }, `order confirmed but nothing to dispatch: ${decision.why}`);
        return;
      }
      const dispatched = await shipments.transition(decision.shipment.id, 'BOOKED', 'DISPATCHED');
      await outbox.add(
        tx,
        'shipping.shipment-dispatched.v1',
        {
          orderId,
          customerId: dispatched.customerId!,
          shipmentId: dispatched.id,
          trackingNumber: dispatched.trackingNumber!,
          dispatchedAt: dispatched.dispatchedAt!.toISOString(),
        },
        { key: orderId },
      );
      log.info({ orderId, shipmentId: dispatched.id }, 'order confirmed: shipment dispatched');
    },
  };
}
