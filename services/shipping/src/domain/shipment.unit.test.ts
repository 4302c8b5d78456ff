import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { bookingResult, cancellation, dispatch, toView, type Shipment, type ShipmentStatus } from './shipment.ts';

function shipment(status: ShipmentStatus, changes: Partial<Shipment> = {}): Shipment {
  return {
    id: randomUUID(),
    orderId: randomUUID(),
    customerId: randomUUID(),
    status,
    trackingNumber: status === 'REJECTED' ? null : 'BZ0123456789AB',
    carrier: 'Bazaar Post',
    address: { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' },
    lines: [{ productId: randomUUID(), quantity: 2 }],
    rejectCode: status === 'REJECTED' ? 'DESTINATION_UNSUPPORTED' : null,
    rejectReason: status === 'REJECTED' ? 'We cannot deliver to Antarctica (AQ).' : null,
    createdAt: new Date('2025-01-02T03:04:05.000Z'),
    cancelledAt: status === 'CANCELLED' ? new Date('2025-01-02T04:00:00.000Z') : null,
    dispatchedAt: status === 'DISPATCHED' ? new Date('2025-01-03T00:00:00.000Z') : null,
    ...changes,
  };
}

describe('answering create-shipment again', () => {
  it('a booked or dispatched shipment: succeeded, with the same shipment and tracking number', () => {
    for (const status of ['BOOKED', 'DISPATCHED'] as const) {
      const booked = shipment(status);
      assert.deepEqual(bookingResult(booked), { outcome: 'succeeded', shipmentId: booked.id, trackingNumber: 'BZ0123456789AB' });
    }
  });

  it('a refused booking: failed with the carrier\'s code and reason', () => {
    assert.deepEqual(bookingResult(shipment('REJECTED')), { outcome: 'failed', code: 'DESTINATION_UNSUPPORTED', reason: 'We cannot deliver to Antarctica (AQ).' });
  });

  it('a cancelled order (tombstone or not): failed ORDER_CLOSED', () => {
    for (const cancelled of [shipment('CANCELLED'), shipment('CANCELLED', { customerId: null, address: null, lines: null, trackingNumber: null })]) {
      const result = bookingResult(cancelled);
      assert.equal(result.outcome, 'failed');
      assert.equal(result.code, 'ORDER_CLOSED');
      assert.ok(result.reason);
    }
  });
});

describe('cancel-shipment', () => {
  it('cancels a booked shipment, records a tombstone when there is none', () => {
    const booked = shipment('BOOKED');
    assert.deepEqual(cancellation(booked), { action: 'cancel', shipment: booked });
    assert.deepEqual(cancellation(undefined), { action: 'record-tombstone' });
  });

  it('does nothing for a cancelled or refused one', () => {
    assert.deepEqual(cancellation(shipment('CANCELLED')), { action: 'nothing' });
    assert.deepEqual(cancellation(shipment('REJECTED')), { action: 'nothing' });
  });

  it('refuses once the parcel has left: ALREADY_DISPATCHED, naming the tracking number', () => {
    const decision = cancellation(shipment('DISPATCHED'));
    assert.equal(decision.action, 'refuse');
    assert.ok(decision.action === 'refuse');
    assert.equal(decision.result.outcome, 'failed');
    assert.equal(decision.result.code, 'ALREADY_DISPATCHED');
    assert.match(decision.result.reason!, /BZ0123456789AB/);
  });
});

describe('dispatch on order confirmation', () => {
  it('dispatches a booked shipment only', () => {
    const booked = shipment('BOOKED');
    assert.deepEqual(dispatch(booked), { action: 'dispatch', shipment: booked });
    assert.deepEqual(dispatch(shipment('DISPATCHED')), { action: 'nothing' });
    for (const other of [undefined, shipment('CANCELLED'), shipment('REJECTED')]) assert.equal(dispatch(other).action, 'cannot');
  });
});

describe('the shipment view', () => {
  it('shows the destination city and country only, and the moments that happened', () => {
    const dispatched = shipment('DISPATCHED');
    assert.deepEqual(toView(dispatched), {
      id: dispatched.id,
      orderId: dispatched.orderId,
      status: 'DISPATCHED',
      trackingNumber: 'BZ0123456789AB',
      carrier: 'Bazaar Post',
      destination: { city: 'London', country: 'GB' },
      createdAt: '2025-01-02T03:04:05.000Z',
      dispatchedAt: '2025-01-03T00:00:00.000Z',
    });
    assert.equal(toView(shipment('CANCELLED')).cancelledAt, '2025-01-02T04:00:00.000Z');
    assert.equal(toView(shipment('CANCELLED', { address: null })).destination, null);
  });
});
