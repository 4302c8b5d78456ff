import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeAddress, normalizeCountry } from './address.ts';

describe('addresses', () => {
  it('accept assigned ISO 3166-1 alpha-2 codes in any case', () => {
    assert.equal(normalizeCountry('de'), 'DE');
    assert.equal(normalizeCountry('US'), 'US');
    assert.equal(normalizeCountry('gb'), 'GB');
  });

  it('reject unassigned and reserved codes', () => {
    for (const code of ['XX', 'UK', 'EU', 'ZZ', 'AA', 'D', 'DEU', '']) assert.equal(normalizeCountry(code), undefined, code);
  });

  it('trim fields and drop empty optional ones', () => {
    const result = normalizeAddress({ label: '  ', name: ' Ada ', line1: ' 1 Main St ', line2: '', city: ' Berlin ', postalCode: ' 10115 ', country: 'de' });
    assert.deepEqual(result, {
      ok: true,
      address: { label: undefined, name: 'Ada', line1: '1 Main St', line2: undefined, city: 'Berlin', postalCode: '10115', country: 'DE' },
    });
  });

  it('name the field that is wrong', () => {
    const result = normalizeAddress({ name: 'Ada', line1: 'x', city: 'y', postalCode: 'z', country: 'QQ' });
    assert.equal(result.ok, false);
    assert.equal((result as { path: string }).path, 'body/country');
  });
});
