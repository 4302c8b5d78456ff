import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fractionDigits, majorUnits, minorUnits, money } from './format.js';

describe('the storefront’s money formats', () => {
  it('reads a typed price in minor units without float arithmetic', () => {
    assert.equal(minorUnits('12'), 1200);
    assert.equal(minorUnits('12.5'), 1250);
    assert.equal(minorUnits(' 12,50 '), 1250);
    assert.equal(minorUnits('0.07'), 7);
    assert.equal(minorUnits('1.10'), 110, '1.1 * 100 is 110.00000000000001 in floats');
    assert.equal(minorUnits('999999999.99'), 99_999_999_999);
    for (const bad of ['', '12.505', '-1', '1e3', '12.', '.5', 'abc', '12 50', '1234567890']) assert.equal(minorUnits(bad), undefined, JSON.stringify(bad));
  });

  it('writes minor units back as the admin typed them, and as the customer reads them', () => {
    for (const amount of [0, 7, 110, 1250, 12900]) assert.equal(minorUnits(majorUnits(amount)), amount);
    assert.equal(majorUnits(12900), '129.00');
    assert.equal(money({ amount: 12900, currency: 'EUR' }), '€129.00');
    assert.equal(money({ amount: 500, currency: 'JPY' }), '¥500', 'a currency without minor units');
  });

  it('reads and writes a price with as many decimals as its currency has (yen none, dinar three)', () => {
    assert.equal(minorUnits('500', 'JPY'), 500);
    assert.equal(minorUnits('5.5', 'JPY'), undefined, 'a yen has no minor unit');
    assert.equal(majorUnits(500, 'JPY'), '500');
    assert.equal(minorUnits('1.234', 'KWD'), 1234);
    assert.equal(minorUnits('1.2', 'KWD'), 1200);
    assert.equal(minorUnits('1.2345', 'KWD'), undefined);
    assert.equal(majorUnits(1234, 'KWD'), '1.234');
    assert.equal(majorUnits(5, 'KWD'), '0.005');
    for (const currency of ['EUR', 'JPY', 'KWD', 'GBP']) {
      for (const amount of [0, 5, 110, 1234, 99_999]) assert.equal(minorUnits(majorUnits(amount, currency), currency), amount, `${currency} ${amount}`);
    }
    assert.equal(fractionDigits('EUR'), 2);
    assert.equal(fractionDigits('JPY'), 0);
    assert.equal(fractionDigits('KWD'), 3);
  });
});
