import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CARRIER, TRACKING_NUMBER, destination, newTrackingNumber } from './carrier.ts';
import { countryName, isoCountryCodes } from './countries.ts';

describe('the destinations Bazaar Post serves', () => {
  it('is called Bazaar Post', () => {
    assert.equal(CARRIER, 'Bazaar Post');
  });

  it('refuses Antarctica, with a reason a customer can read', () => {
    assert.deepEqual(destination('AQ'), { served: false, code: 'DESTINATION_UNSUPPORTED', reason: 'We cannot deliver to Antarctica (AQ).' });
  });

  it('serves the countries customers usually ship to', () => {
    for (const country of ['NL', 'DE', 'FR', 'GB', 'US', 'JP', 'BR', 'ZA', 'AU']) assert.deepEqual(destination(country), { served: true }, country);
  });

  it('serves every ISO country but Antarctica', () => {
    fc.assert(
      fc.property(fc.constantFrom(...isoCountryCodes), (country) => {
        assert.equal(destination(country).served, country !== 'AQ', country);
      }),
    );
  });

  it('refuses a code that names no country (the contract only checks two capital letters)', () => {
    const refused = destination('XX');
    assert.equal(refused.served, false);
    assert.ok(!refused.served && refused.code === 'DESTINATION_UNSUPPORTED' && refused.reason.includes('XX'));
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Z]{2}$/), (code) => {
        assert.equal(destination(code).served, isoCountryCodes.includes(code) && code !== 'AQ', code);
      }),
    );
  });

  it('knows all 249 ISO 3166-1 codes, each once, each a real region name', () => {
    assert.equal(isoCountryCodes.length, 249);
    assert.equal(new Set(isoCountryCodes).size, 249);
    for (const code of isoCountryCodes) {
      assert.match(code, /^[A-Z]{2}$/);
      assert.notEqual(countryName(code), code, `${code} has an English name`);
    }
  });
});

describe('tracking numbers', () => {
  it('are BZ and twelve digits or capital letters', () => {
    for (let i = 0; i < 1_000; i++) assert.match(newTrackingNumber(), /^BZ[0-9A-Z]{12}$/);
    assert.match(newTrackingNumber(), TRACKING_NUMBER);
  });

  it('use the whole alphabet, from the random source they are given', () => {
    assert.equal(newTrackingNumber(() => 0), 'BZ000000000000');
    assert.equal(newTrackingNumber((max) => max - 1), 'BZZZZZZZZZZZZZ');
    let next = 0;
    assert.equal(newTrackingNumber(() => next++ % 36), 'BZ0123456789AB');
  });

  it('are random: ten thousand draws do not repeat', () => {
    const drawn = new Set(Array.from({ length: 10_000 }, () => newTrackingNumber()));
    assert.equal(drawn.size, 10_000);
  });

  it('the pattern rejects anything else', () => {
    for (const wrong of ['BZ12345678901', 'BZ1234567890123', 'bz123456789012', 'XY123456789012', 'BZ12345678901a', 'BZ12345678901-']) {
      assert.doesNotMatch(wrong, TRACKING_NUMBER, wrong);
    }
  });
});
