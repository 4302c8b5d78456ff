import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { behaviourOf, brandOf, cardDigits, checkCard, isExpired, luhnCheckDigit, luhnValid, testCards } from './card.ts';

/** A digit string of `min` to `max` digits. */
const digits = (min: number, max: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((ds) => ds.join(''));

/** A Luhn-valid card number of 12 to 19 digits. */
const validNumber = digits(11, 18).map((payload) => payload + luhnCheckDigit(payload));

const now = new Date('2030-06-15T12:00:00Z');

describe('the Luhn check', () => {
  it('accepts the test cards and well-known valid numbers', () => {
    for (const number of [...Object.keys(testCards), '5555555555554444', '378282246310005', '2223003122003222']) {
      assert.ok(luhnValid(number), number);
    }
  });

  it('rejects a number with a wrong check digit, and anything that is not digits', () => {
    assert.equal(luhnValid('4242424242424241'), false);
    assert.equal(luhnValid('4000000000000003'), false);
    assert.equal(luhnValid('4242 4242 4242 4242'), false, 'the check works on digits only');
    assert.equal(luhnValid('42424242424242a2'), false);
  });

  it('completes any payload with exactly one check digit', () => {
    fc.assert(
      fc.property(digits(11, 18), (payload) => {
        const valid = [...'0123456789'].filter((d) => luhnValid(payload + d));
        assert.deepEqual(valid, [luhnCheckDigit(payload)]);
      }),
    );
  });

  it('catches every single mistyped digit', () => {
    fc.assert(
      fc.property(validNumber, fc.nat(), fc.integer({ min: 1, max: 9 }), (number, at, shift) => {
        const i = at % number.length;
        const typo = number.slice(0, i) + String((Number(number[i]) + shift) % 10) + number.slice(i + 1);
        assert.equal(luhnValid(typo), false, `${number} → ${typo}`);
      }),
    );
  });
});

describe('card numbers as typed', () => {
  it('allows spaces between groups and takes 12 to 19 digits', () => {
    assert.equal(cardDigits('4242 4242 4242 4242'), '4242424242424242');
    assert.equal(cardDigits('424242424242'), '424242424242');
    assert.equal(cardDigits('4'.repeat(19)), '4'.repeat(19));
    assert.equal(cardDigits('4'.repeat(11)), undefined);
    assert.equal(cardDigits('4'.repeat(20)), undefined);
    assert.equal(cardDigits('4242-4242-4242-4242'), undefined);
    assert.equal(cardDigits('    '), undefined);
    assert.equal(cardDigits('４２４２４２４２４２４２４２４２'), undefined, 'full-width digits are not digits');
  });
});

describe('brands', () => {
  it('tells the network from the leading digits', () => {
    assert.equal(brandOf('4242424242424242'), 'visa');
    assert.equal(brandOf('5105105105105100'), 'mastercard');
    assert.equal(brandOf('5555555555554444'), 'mastercard');
    assert.equal(brandOf('2221000000000009'), 'mastercard');
    assert.equal(brandOf('2720999999999996'), 'mastercard');
    assert.equal(brandOf('2220999999999999'), 'unknown');
    assert.equal(brandOf('2721000000000000'), 'unknown');
    assert.equal(brandOf('5000000000000009'), 'unknown');
    assert.equal(brandOf('5600000000000000'), 'unknown');
    assert.equal(brandOf('340000000000009'), 'amex');
    assert.equal(brandOf('378282246310005'), 'amex');
    assert.equal(brandOf('6011111111111117'), 'unknown');
  });
});

describe('expiry', () => {
  it('keeps a card valid through the last instant of its expiry month (UTC)', () => {
    assert.equal(isExpired(6, 2030, now), false);
    assert.equal(isExpired(6, 2030, new Date('2030-06-30T23:59:59.999Z')), false);
    assert.equal(isExpired(6, 2030, new Date('2030-07-01T00:00:00Z')), true);
    assert.equal(isExpired(5, 2030, now), true);
    assert.equal(isExpired(12, 2029, now), true);
    assert.equal(isExpired(12, 2030, new Date('2031-01-01T00:00:00Z')), true, 'December rolls over into the next year');
    assert.equal(isExpired(1, 2031, now), false);
  });
});

describe('checking a card', () => {
  it('reduces a valid card to brand, last four and the test card behaviour', () => {
    assert.deepEqual(checkCard({ cardNumber: '4242 4242 4242 4242', expMonth: 12, expYear: 2030 }, now), {
      ok: true,
      card: { brand: 'visa', last4: '4242', behaviour: 'approve' },
    });
    assert.deepEqual(checkCard({ cardNumber: '4000000000009995', expMonth: 1, expYear: 2031 }, now), {
      ok: true,
      card: { brand: 'visa', last4: '9995', behaviour: 'insufficient_funds' },
    });
  });

  it('knows every test card, and approves any other valid number', () => {
    assert.equal(behaviourOf('4242424242424242'), 'approve');
    assert.equal(behaviourOf('4000000000000002'), 'decline');
    assert.equal(behaviourOf('4000000000009995'), 'insufficient_funds');
    assert.equal(behaviourOf('4000000000000119'), 'transient');
    assert.equal(behaviourOf('4000000000000259'), 'slow');
    assert.equal(behaviourOf('5555555555554444'), 'approve');
  });

  it('refuses a mistyped number as CARD_INVALID and a past card as CARD_EXPIRED', () => {
    const mistyped = checkCard({ cardNumber: '4242424242424241', expMonth: 12, expYear: 2030 }, now);
    assert.equal(mistyped.ok, false);
    assert.equal(!mistyped.ok && mistyped.code, 'CARD_INVALID');
    const short = checkCard({ cardNumber: '4242', expMonth: 12, expYear: 2030 }, now);
    assert.equal(!short.ok && short.code, 'CARD_INVALID');
    const expired = checkCard({ cardNumber: '4242424242424242', expMonth: 5, expYear: 2030 }, now);
    assert.equal(!expired.ok && expired.code, 'CARD_EXPIRED');
    assert.equal(!expired.ok && expired.detail, 'The card expired at the end of 05/2030');
  });

  it('never keeps or repeats more than the last four digits of a number', () => {
    fc.assert(
      fc.property(fc.oneof(validNumber, digits(12, 19)), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 2000, max: 2200 }), (number, expMonth, expYear) => {
        const checked = checkCard({ cardNumber: number, expMonth, expYear }, now);
        const kept = JSON.stringify(checked);
        // No run of digits longer than four in what is kept: last4 and the expiry, never the number.
        const runs = kept.match(/[0-9]+/g) ?? [];
        for (const run of runs) assert.ok(run.length <= 4, `${kept} holds ${run}`);
        if (checked.ok) {
          assert.equal(checked.card.last4, number.slice(-4));
          assert.ok(['visa', 'mastercard', 'amex', 'unknown'].includes(checked.card.brand));
        }
      }),
    );
  });
});
