import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { errorCatalogue, problemType, type ErrorCode } from './errors.ts';

describe('the error catalogue', () => {
  it('gives every code a distinct problem type, and a client error or server error status', () => {
    const codes = Object.keys(errorCatalogue) as ErrorCode[];
    assert.equal(new Set(codes.map(problemType)).size, codes.length);
    for (const code of codes) assert.ok(errorCatalogue[code].status >= 400 && errorCatalogue[code].status < 600, code);
  });

  it('is listed whole in the README, each code under its status', async () => {
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
    const listed = new Map<string, number>();
    for (const [, status, codes] of readme.matchAll(/^\| (\d{3}) \| (.+) \|$/gm)) {
      for (const [, code] of codes!.matchAll(/`([A-Z_]+)`/g)) listed.set(code!, Number(status));
    }
    const catalogue = new Map(Object.entries(errorCatalogue).map(([code, entry]) => [code, entry.status]));
    assert.deepEqual(Object.fromEntries([...listed].sort()), Object.fromEntries([...catalogue].sort()));
  });
});
