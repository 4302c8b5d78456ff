import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageData } from '@bazaar/contracts/messages';
import { formatMoney } from './money.ts';
import { orderCancelledMessage, orderConfirmedMessage, refundIssuedMessage, shipmentDispatchedMessage } from './order-messages.ts';

const orderId = '5b0c9a3e-7a55-4b7e-9d0f-1c2b3a4d5e6f';
const customerId = '0f1e2d3c-4b5a-4978-8877-665544332211';
const ada = { name: 'Ada Lovelace' };

describe('money in messages', () => {
  it('reads as the currency does', () => {
    assert.equal(formatMoney({ amount: 1250, currency: 'EUR' }), '€12.50');
    assert.equal(formatMoney({ amount: 5, currency: 'EUR' }), '€0.05');
    assert.equal(formatMoney({ amount: 0, currency: 'EUR' }), '€0.00');
    assert.equal(formatMoney({ amount: 123456789, currency: 'USD' }), '$1,234,567.89');
    assert.equal(formatMoney({ amount: 1250, currency: 'JPY' }), '¥1,250', 'a currency without minor units');
    assert.equal(formatMoney({ amount: 1234, currency: 'KWD' }), 'KWD\u00a01.234', 'a currency with three decimals (Intl puts a no-break space after the code)');
  });

  it('is exact up to the largest amount a message allows', () => {
    assert.equal(formatMoney({ amount: 100_000_000_00, currency: 'EUR' }), '€100,000,000.00');
    assert.equal(formatMoney({ amount: 99_999_999_99, currency: 'EUR' }), '€99,999,999.99');
  });
});

describe('the order confirmation', () => {
  const confirmed: MessageData<'orders.order-confirmed.v1'> = {
    orderId,
    customerId,
    total: { amount: 3750, currency: 'EUR' },
    lines: [
      { productId: '11111111-1111-4111-8111-111111111111', name: 'Blue mug', quantity: 2, unitPrice: { amount: 1250, currency: 'EUR' } },
      { productId: '22222222-2222-4222-8222-222222222222', name: 'Tea towel', quantity: 1, unitPrice: { amount: 1250, currency: 'EUR' } },
    ],
    confirmedAt: '2025-01-01T12:00:00.000Z',
  };
  const message = orderConfirmedMessage(confirmed, ada);

  it('says the order is confirmed, to the customer by name', () => {
    assert.equal(message.kind, 'order-confirmed');
    assert.equal(message.subject, 'Your order is confirmed');
    assert.match(message.body, /^Hi Ada Lovelace,/);
    assert.ok(message.body.includes(orderId));
  });

  it('lists every line and the total, in readable money', () => {
    assert.ok(message.body.includes('2 × Blue mug (€12.50 each): €25.00'), message.body);
    assert.ok(message.body.includes('1 × Tea towel (€12.50 each): €12.50'), message.body);
    assert.ok(message.body.includes('Total: €37.50'), message.body);
  });

  it('greets without a name when the customer is not known yet', () => {
    assert.match(orderConfirmedMessage(confirmed, {}).body, /^Hello,/);
  });

  it('fits the stored limits with 50 lines of the longest names', () => {
    const longest = orderConfirmedMessage(
      {
        ...confirmed,
        lines: Array.from({ length: 50 }, () => ({ ...confirmed.lines[0]!, name: 'n'.repeat(200), quantity: 1000, unitPrice: { amount: 100_000_000_00, currency: 'EUR' } })),
      },
      { name: 'x'.repeat(100) },
    );
    assert.ok(longest.body.length <= 10_000, `${longest.body.length} characters`);
    assert.ok(longest.body.includes(`${'n'.repeat(79)}…`), 'a long name is shortened, visibly');
  });
});

describe('the cancellation', () => {
  const reason = 'Your card was declined by the bank.';
  const message = orderCancelledMessage({ orderId, customerId, code: 'CARD_DECLINED', reason, cancelledAt: '2025-01-01T12:00:00.000Z' }, ada);

  it('says the order was cancelled and why, in the words of the event', () => {
    assert.equal(message.kind, 'order-cancelled');
    assert.equal(message.subject, 'Your order was cancelled');
    assert.ok(message.body.includes(`Why: ${reason}`), message.body);
    assert.ok(message.body.includes(orderId));
  });

  it('shows the reason, not the machine code', () => {
    assert.ok(!message.body.includes('CARD_DECLINED'));
  });

  it('fits the stored limits with the longest reason', () => {
    const longest = orderCancelledMessage({ orderId, customerId, code: 'X_X', reason: 'r'.repeat(500), cancelledAt: '2025-01-01T12:00:00.000Z' }, { name: 'x'.repeat(100) });
    assert.ok(longest.body.length <= 10_000);
  });
});

describe('the dispatch notice', () => {
  it('gives the tracking number', () => {
    const message = shipmentDispatchedMessage(
      { orderId, customerId, shipmentId: '33333333-3333-4333-8333-333333333333', trackingNumber: 'BZ123456789', dispatchedAt: '2025-01-01T12:00:00.000Z' },
      ada,
    );
    assert.equal(message.kind, 'shipment-dispatched');
    assert.equal(message.subject, 'Your order is on its way');
    assert.ok(message.body.includes('Tracking number: BZ123456789'), message.body);
    assert.ok(message.body.includes(orderId));
  });
});

describe('the refund notice', () => {
  it('gives the amount refunded, readably, and why', () => {
    const message = refundIssuedMessage(
      {
        orderId,
        customerId,
        paymentId: '44444444-4444-4444-8444-444444444444',
        amount: { amount: 1250, currency: 'EUR' },
        reason: 'The carrier does not deliver to your address.',
        refundedAt: '2025-01-01T12:00:00.000Z',
      },
      ada,
    );
    assert.equal(message.kind, 'refund-issued');
    assert.equal(message.subject, 'Your refund of €12.50 is on its way');
    assert.ok(message.body.includes('We have refunded €12.50 for your order'), message.body);
    assert.ok(message.body.includes('Why: The carrier does not deliver to your address.'));
  });
});
