import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { EmbeddedBroker } from '@bazaar/chassis';
import type { Envelope } from '@bazaar/contracts/messages';
import { eventually } from '@bazaar/runtime/testing/eventually';
import { topology } from '@bazaar/topology';
import { ProcessorUnavailableError } from '../domain/processor.ts';
import { command, handle, newCustomer, outboxFor, paymentRows, paymentsHarness, tokenize, type Customer, type Harness } from '../testing/harness.ts';

let harness: Harness;
let broker: EmbeddedBroker;
after(() => harness?.close());

before(async () => {
  // Retries come quickly, so the transient card's second attempt arrives within the test.
  harness = await paymentsHarness('payments_handlers', { embeddedBroker: { pollMs: 50, flows: { groups: { payments: topology.payments.consumes } } }, env: { MESSAGE_BACKOFF_BASE_MS: '20' } });
  broker = harness.broker!;
});

const eur = (amount: number) => ({ amount, currency: 'EUR' });

const cards = {
  approves: '4242 4242 4242 4242',
  declines: '4000 0000 0000 0002',
  insufficientFunds: '4000 0000 0000 9995',
  transient: '4000 0000 0000 0119',
  slow: '4000 0000 0000 0259',
  otherValid: '5555 5555 5555 4444',
};

interface Order {
  orderId: string;
  customer: Customer;
  paymentToken: string;
}

async function order(card = cards.approves): Promise<Order> {
  const customer = await newCustomer(harness);
  return { orderId: randomUUID(), customer, paymentToken: await tokenize(harness, customer, card) };
}

const authorize = (o: Order, amount = 4_999) =>
  command('payments.authorize-payment.v1', { orderId: o.orderId, customerId: o.customer.userId, amount: eur(amount), paymentToken: o.paymentToken });
const capture = (orderId: string) => command('payments.capture-payment.v1', { orderId });
const voidPayment = (orderId: string) => command('payments.void-payment.v1', { orderId, reason: 'The order was cancelled.' });
const refund = (orderId: string) => command('payments.refund-payment.v1', { orderId, reason: 'The order was cancelled.' });

/** The replies payments wrote for `orderId` to `name`, as data. */
async function replies(orderId: string, name: Parameters<typeof outboxFor>[2]): Promise<Array<Record<string, unknown>>> {
  return (await outboxFor(harness, orderId, name)).map((e) => e.data as Record<string, unknown>);
}

async function onlyPayment(orderId: string) {
  const rows = await paymentRows(harness, orderId);
  assert.equal(rows.length, 1, 'one payment per order');
  return rows[0]!;
}

/** An order whose payment is authorized, and its payment id. */
async function authorized(amount = 4_999): Promise<Order & { paymentId: string }> {
  const o = await order();
  await handle(harness, authorize(o, amount));
  const [answer] = await replies(o.orderId, 'payments.authorize-payment-result.v1');
  return { ...o, paymentId: answer!['paymentId'] as string };
}

describe('authorizing a payment', () => {
  it('authorizes an approving card, keeps brand and last four, and answers the saga with the payment id', async () => {
    const o = await order(cards.approves);
    const envelope = authorize(o, 12_345);
    await handle(harness, envelope);

    const [reply, ...more] = await outboxFor(harness, o.orderId);
    assert.equal(more.length, 0);
    assert.equal(reply!.type, 'payments.authorize-payment-result');
    assert.equal(reply!.destination, 'orders');
    assert.equal(reply!.key, o.orderId);
    const payment = await onlyPayment(o.orderId);
    assert.deepEqual(reply!.data, { orderId: o.orderId, outcome: 'succeeded', paymentId: payment.id });
    assert.equal(payment.status, 'AUTHORIZED');
    assert.equal(payment.customer_id, o.customer.userId);
    assert.equal(Number(payment.amount), 12_345);
    assert.equal(Number(payment.authorized_amount), 12_345);
    assert.equal(payment.currency, 'EUR');
    assert.equal(Number(payment.captured_amount), 0);
    assert.equal(payment.brand, 'visa');
    assert.equal(payment.last4, '4242');
  });

  it('approves any other valid card', async () => {
    const o = await order(cards.otherValid);
    await handle(harness, authorize(o));
    assert.equal((await replies(o.orderId, 'payments.authorize-payment-result.v1'))[0]!['outcome'], 'succeeded');
    assert.equal((await onlyPayment(o.orderId)).brand, 'mastercard');
  });

  it('answers the same, once, when the same command is handled twice', async () => {
    const o = await order();
    const envelope = authorize(o);
    await handle(harness, envelope);
    await handle(harness, envelope);
    await handle(harness, authorize(o), 1); // a second command for the order, not just a redelivery
    const answers = await replies(o.orderId, 'payments.authorize-payment-result.v1');
    assert.equal(answers.length, 3);
    assert.deepEqual(answers[1], answers[0]);
    assert.deepEqual(answers[2], answers[0]);
    assert.equal((await onlyPayment(o.orderId)).status, 'AUTHORIZED');
  });

  it('authorizes once when two deliveries of the command race (one payment, the same answer)', async () => {
    const o = await order();
    await Promise.all([handle(harness, authorize(o)), handle(harness, authorize(o))]);
    const answers = await replies(o.orderId, 'payments.authorize-payment-result.v1');
    assert.equal(answers.length, 2);
    assert.deepEqual(answers[1], answers[0]);
    assert.equal(answers[0]!['paymentId'], (await onlyPayment(o.orderId)).id);
  });

  it('answers to the service the command names as replyTo, and to orders when it names none', async () => {
    const o = await order();
    await handle(harness, command('payments.authorize-payment.v1', { orderId: o.orderId, customerId: o.customer.userId, amount: eur(100), paymentToken: o.paymentToken }, 'checkout-tests'));
    await handle(harness, command('payments.capture-payment.v1', { orderId: o.orderId }, undefined));
    const [authorizeReply, captureReply] = await outboxFor(harness, o.orderId);
    assert.equal(authorizeReply!.destination, 'checkout-tests');
    assert.equal(captureReply!.destination, 'orders');
  });

  for (const [card, code, reason] of [
    [cards.declines, 'CARD_DECLINED', 'Your card was declined.'],
    [cards.insufficientFunds, 'INSUFFICIENT_FUNDS', 'Your card has insufficient funds.'],
  ] as const) {
    it(`records a decline (${code}) and answers failed with the code and a reason, the same every time`, async () => {
      const o = await order(card);
      const envelope = authorize(o);
      await handle(harness, envelope);
      await handle(harness, envelope);
      const answers = await replies(o.orderId, 'payments.authorize-payment-result.v1');
      assert.deepEqual(answers, [
        { orderId: o.orderId, outcome: 'failed', code, reason },
        { orderId: o.orderId, outcome: 'failed', code, reason },
      ]);
      const payment = await onlyPayment(o.orderId);
      assert.equal(payment.status, 'DECLINED');
      assert.equal(payment.decline_code, code);
      assert.equal(payment.authorized_amount, null, 'nothing was authorized');
    });
  }

  it("refuses an unknown token and another customer's token as PAYMENT_TOKEN_UNKNOWN", async () => {
    const mallory = await newCustomer(harness);
    const victim = await order();
    for (const paymentToken of ['pm_doesnotexistdoesnotexist0', victim.paymentToken]) {
      const orderId = randomUUID();
      await handle(harness, command('payments.authorize-payment.v1', { orderId, customerId: mallory.userId, amount: eur(999), paymentToken }));
      const [answer] = await replies(orderId, 'payments.authorize-payment-result.v1');
      assert.equal(answer!['outcome'], 'failed');
      assert.equal(answer!['code'], 'PAYMENT_TOKEN_UNKNOWN');
      assert.ok((answer!['reason'] as string).length > 0);
      const payment = await onlyPayment(orderId);
      assert.equal(payment.status, 'DECLINED');
      assert.equal(payment.brand, null, "nothing of the victim's card is copied");
    }
  });

  it('throws on the transient card at the first attempt, leaving nothing, and approves at the second', async () => {
    const o = await order(cards.transient);
    const envelope = authorize(o);
    await assert.rejects(handle(harness, envelope, 1), ProcessorUnavailableError);
    assert.deepEqual(await paymentRows(harness, o.orderId), []);
    assert.deepEqual(await outboxFor(harness, o.orderId), []);
    await handle(harness, envelope, 2);
    assert.equal((await replies(o.orderId, 'payments.authorize-payment-result.v1'))[0]!['outcome'], 'succeeded');
    assert.equal((await onlyPayment(o.orderId)).status, 'AUTHORIZED');
  });

  it('retries the transient card through the broker: the consumer redelivers and the retry approves', async () => {
    const o = await order(cards.transient);
    await broker.publish([authorize(o)]);
    const [answer] = await eventually(async () => {
      const found = await replies(o.orderId, 'payments.authorize-payment-result.v1');
      return found.length > 0 ? found : undefined;
    }, 'the authorization reply');
    assert.equal(answer!['outcome'], 'succeeded');
    const metrics = (await harness.app.inject({ url: '/metrics' })).body;
    assert.match(metrics, /messages_consumed_total\{[^}]*message="payments.authorize-payment.v1"[^}]*outcome="retried"[^}]*\} [1-9]/);
  });

  it('answers the slow card after PAYMENTS_SLOW_CARD_DELAY_MS (200 ms here), approved', async () => {
    const o = await order(cards.slow);
    const started = performance.now();
    await handle(harness, authorize(o));
    assert.ok(performance.now() - started >= 190, 'the processor took its time');
    assert.equal((await replies(o.orderId, 'payments.authorize-payment-result.v1'))[0]!['outcome'], 'succeeded');
  });
});

describe('capturing a payment', () => {
  it('captures the authorized amount, once, answering succeeded each time', async () => {
    const o = await authorized(7_500);
    await handle(harness, capture(o.orderId));
    await handle(harness, capture(o.orderId));
    assert.deepEqual(await replies(o.orderId, 'payments.capture-payment-result.v1'), [
      { orderId: o.orderId, outcome: 'succeeded' },
      { orderId: o.orderId, outcome: 'succeeded' },
    ]);
    const payment = await onlyPayment(o.orderId);
    assert.equal(payment.status, 'CAPTURED');
    assert.equal(Number(payment.captured_amount), 7_500);
  });

  it('refuses to capture a declined, unknown or voided payment (PAYMENT_NOT_AUTHORIZED)', async () => {
    const declined = await order(cards.declines);
    await handle(harness, authorize(declined));
    const voided = await authorized();
    await handle(harness, voidPayment(voided.orderId));
    const unknown = randomUUID();
    for (const orderId of [declined.orderId, voided.orderId, unknown]) {
      await handle(harness, capture(orderId));
      const [answer] = await replies(orderId, 'payments.capture-payment-result.v1');
      assert.equal(answer!['outcome'], 'failed', orderId);
      assert.equal(answer!['code'], 'PAYMENT_NOT_AUTHORIZED');
    }
    assert.deepEqual(await paymentRows(harness, unknown), [], 'a capture records nothing for an order never seen');
    assert.equal(Number((await onlyPayment(voided.orderId)).captured_amount), 0);
  });
});

for (const [compensation, build] of [
  ['void', voidPayment],
  ['refund', refund],
] as const) {
  describe(`${compensation} (a compensation)`, () => {
    const resultName = compensation === 'void' ? 'payments.void-payment-result.v1' : 'payments.refund-payment-result.v1';

    it('voids an authorization, once', async () => {
      const o = await authorized();
      await handle(harness, build(o.orderId));
      await handle(harness, build(o.orderId));
      assert.deepEqual(await replies(o.orderId, resultName), [
        { orderId: o.orderId, outcome: 'succeeded' },
        { orderId: o.orderId, outcome: 'succeeded' },
      ]);
      const payment = await onlyPayment(o.orderId);
      assert.equal(payment.status, 'VOIDED');
      assert.equal(Number(payment.captured_amount), 0);
      assert.deepEqual(await outboxFor(harness, o.orderId, 'payments.payment-refunded.v1'), [], 'nothing was taken, nothing is refunded');
    });

    it('refunds a captured payment in full, once, and announces the refund', async () => {
      const o = await authorized(2_500);
      await handle(harness, capture(o.orderId));
      await handle(harness, build(o.orderId));
      await handle(harness, build(o.orderId));
      assert.deepEqual(await replies(o.orderId, resultName), [
        { orderId: o.orderId, outcome: 'succeeded' },
        { orderId: o.orderId, outcome: 'succeeded' },
      ]);
      const payment = await onlyPayment(o.orderId);
      assert.equal(payment.status, 'REFUNDED');
      assert.equal(Number(payment.captured_amount) - Number(payment.refunded_amount), 0, 'captured − refunded is 0 for a cancelled order');
      const events: Envelope[] = await outboxFor(harness, o.orderId, 'payments.payment-refunded.v1');
      assert.equal(events.length, 1, 'one refund, one announcement');
      const event = events[0]!;
      assert.equal(event.destination, undefined, 'an event goes to whoever subscribes');
      assert.equal(event.key, o.orderId);
      const data = event.data as Record<string, unknown>;
      assert.deepEqual({ ...data, refundedAt: undefined }, {
        orderId: o.orderId,
        customerId: o.customer.userId,
        paymentId: o.paymentId,
        amount: eur(2_500),
        reason: 'The order was cancelled.',
        refundedAt: undefined,
      });
      assert.ok(!Number.isNaN(Date.parse(data['refundedAt'] as string)));
    });

    it('records a tombstone for an order never seen, which refuses the late authorize (ORDER_CLOSED)', async () => {
      const o = await order();
      await handle(harness, build(o.orderId));
      assert.deepEqual(await replies(o.orderId, resultName), [{ orderId: o.orderId, outcome: 'succeeded' }]);
      const tombstone = await onlyPayment(o.orderId);
      assert.equal(tombstone.status, 'VOIDED');
      assert.equal(tombstone.authorized_amount, null);
      assert.equal(Number(tombstone.amount), 0);
      assert.equal(tombstone.customer_id, null);

      // The authorize, replayed from the dead-letter queue after the saga gave up.
      await handle(harness, authorize(o));
      const [late] = await replies(o.orderId, 'payments.authorize-payment-result.v1');
      assert.equal(late!['outcome'], 'failed');
      assert.equal(late!['code'], 'ORDER_CLOSED');
      const after = await onlyPayment(o.orderId);
      assert.equal(after.status, 'VOIDED');
      assert.equal(after.authorized_amount, null, 'no money was authorized for the cancelled order');
      await handle(harness, build(o.orderId));
      assert.equal((await replies(o.orderId, resultName)).length, 2, 'compensating again still answers');
    });

    it('records one tombstone when two compensations for an unseen order race', async () => {
      const orderId = randomUUID();
      await Promise.all([handle(harness, build(orderId)), handle(harness, build(orderId))]);
      assert.equal((await replies(orderId, resultName)).length, 2);
      assert.equal((await onlyPayment(orderId)).status, 'VOIDED');
    });

    it('leaves a declined payment as it is', async () => {
      const o = await order(cards.declines);
      await handle(harness, authorize(o));
      await handle(harness, build(o.orderId));
      assert.deepEqual(await replies(o.orderId, resultName), [{ orderId: o.orderId, outcome: 'succeeded' }]);
      const payment = await onlyPayment(o.orderId);
      assert.equal(payment.status, 'DECLINED');
      assert.equal(payment.decline_code, 'CARD_DECLINED');
      // Authorizing again still answers the decline, not ORDER_CLOSED.
      await handle(harness, authorize(o));
      assert.equal((await replies(o.orderId, 'payments.authorize-payment-result.v1'))[1]!['code'], 'CARD_DECLINED');
    });
  });
}

describe('a closed payment', () => {
  it('refuses a late authorize for a voided or refunded payment (ORDER_CLOSED), and a void after a refund changes nothing', async () => {
    const voided = await authorized();
    await handle(harness, voidPayment(voided.orderId));
    const refunded = await authorized(1_000);
    await handle(harness, capture(refunded.orderId));
    await handle(harness, refund(refunded.orderId));
    await handle(harness, voidPayment(refunded.orderId));
    for (const o of [voided, refunded]) {
      await handle(harness, authorize(o));
      const answers = await replies(o.orderId, 'payments.authorize-payment-result.v1');
      assert.equal(answers.at(-1)!['code'], 'ORDER_CLOSED');
    }
    const payment = await onlyPayment(refunded.orderId);
    assert.equal(payment.status, 'REFUNDED');
    assert.equal(Number(payment.refunded_amount), 1_000);
    assert.equal((await outboxFor(harness, refunded.orderId, 'payments.payment-refunded.v1')).length, 1);
  });

  it('rolls back with the transaction it is handed: a failed delivery leaves no payment and no reply', async () => {
    const o = await order();
    const envelope = authorize(o);
    const rollback = new Error('the inbox record failed after the handler');
    await assert.rejects(
      harness.db.transaction(async (tx) => {
        await harness.handlers['payments.authorize-payment.v1']!(envelope.data as never, { tx, envelope, outbox: harness.context.outbox, log: harness.context.log, attempt: 1 });
        throw rollback;
      }),
      rollback,
    );
    assert.deepEqual(await paymentRows(harness, o.orderId), []);
    assert.deepEqual(await outboxFor(harness, o.orderId), []);
  });
});
