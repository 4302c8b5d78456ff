import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { createFaultInjector, FaultSpecError, isLoopback, validateFaultSpec, type FaultSpec } from './faults.ts';

/** The paths of the fields a refused spec names. */
function refusal(value: unknown): string[] {
  try {
    validateFaultSpec(value);
  } catch (error) {
    assert.ok(error instanceof FaultSpecError, String(error));
    return error.errors.map((e) => e.path);
  }
  assert.fail(`accepted ${JSON.stringify(value)}`);
}

describe('validateFaultSpec', () => {
  it('accepts every setting within bounds and returns only the keys given', () => {
    const full: FaultSpec = { latencyMs: 500, jitterMs: 100, errorRate: 0.2, errorStatus: 500, resetRate: 0.1, blackholeRate: 0.3, from: 'orders', pathPrefix: '/api/payments', forMs: 30_000 };
    assert.deepEqual(validateFaultSpec(full), full);
    assert.deepEqual(validateFaultSpec({ errorRate: 1 }), { errorRate: 1 });
    assert.deepEqual(validateFaultSpec({ latencyMs: 120_000 }), { latencyMs: 120_000 });
    assert.deepEqual(validateFaultSpec({ blackholeRate: 0.5, resetRate: 0.5 }), { blackholeRate: 0.5, resetRate: 0.5 });
    for (const status of [429, 500, 502, 503, 504]) assert.equal(validateFaultSpec({ errorRate: 1, errorStatus: status }).errorStatus, status);
  });

  it('refuses what is not a fault, naming each bad field', () => {
    const cases: Array<[unknown, string[]]> = [
      [null, ['body']],
      [[], ['body']],
      ['latency', ['body']],
      [{}, ['body']], // does nothing
      [{ errorRate: 0, latencyMs: 0 }, ['body']], // does nothing either
      [{ latencyMs: 100, colour: 'red' }, ['body/colour']],
      [{ latencyMs: -1 }, ['body/latencyMs']],
      [{ latencyMs: 120_001 }, ['body/latencyMs']],
      [{ latencyMs: 1.5 }, ['body/latencyMs']],
      [{ latencyMs: '500' }, ['body/latencyMs']],
      [{ jitterMs: Number.NaN }, ['body/jitterMs']],
      [{ errorRate: 1.01 }, ['body/errorRate']],
      [{ errorRate: -0.1 }, ['body/errorRate']],
      [{ resetRate: '10%' }, ['body/resetRate']],
      [{ blackholeRate: 2 }, ['body/blackholeRate']],
      [{ errorRate: 1, errorStatus: 404 }, ['body/errorStatus']],
      [{ errorRate: 1, errorStatus: '503' }, ['body/errorStatus']],
      [{ latencyMs: 10, errorStatus: 503 }, ['body/errorStatus']], // a status without errors
      [{ errorRate: 0.6, resetRate: 0.3, blackholeRate: 0.2 }, ['body']], // more than all requests
      [{ latencyMs: 10, from: 'Orders!' }, ['body/from']],
      [{ latencyMs: 10, from: '' }, ['body/from']],
      [{ latencyMs: 10, pathPrefix: 'api' }, ['body/pathPrefix']],
      [{ latencyMs: 10, pathPrefix: '/api?x=1' }, ['body/pathPrefix']],
      [{ latencyMs: 10, forMs: 0 }, ['body/forMs']],
      [{ latencyMs: 10, forMs: 25 * 60 * 60 * 1000 }, ['body/forMs']],
      [{ latencyMs: -5, errorRate: 3, wat: 1 }, ['body/wat', 'body/latencyMs', 'body/errorRate']],
    ];
    for (const [value, paths] of cases) assert.deepEqual(refusal(value), paths, JSON.stringify(value));
  });
});

describe('createFaultInjector (without sockets)', () => {
  it('disabled: lets everything through, reports itself disabled and refuses faults', () => {
    const injector = createFaultInjector({ enabled: false, service: 'payments' });
    let passed = 0;
    injector.around({ url: '/internal/faults', method: 'GET', headers: {} } as never, {} as never, () => passed++);
    assert.equal(passed, 1);
    assert.equal(injector.status().enabled, false);
    assert.throws(() => injector.set({ errorRate: 1 }), /disabled in payments.*FAULT_INJECTION=true/);
    assert.equal(injector.status().fault, null);
  });

  it('set reports the fault and when it ends; a refused spec leaves the active fault alone; clear ends it', () => {
    const injector = createFaultInjector({ enabled: true, service: 'payments' });
    assert.deepEqual(injector.status(), {
      service: 'payments',
      enabled: true,
      fault: null,
      setAt: null,
      expiresAt: null,
      ended: null,
      counters: { seen: 0, matched: 0, delayed: 0, errored: 0, reset: 0, blackholed: 0 },
      held: 0,
    });
    const before = Date.now();
    injector.set({ latencyMs: 5, forMs: 60_000 });
    const status = injector.status();
    assert.deepEqual(status.fault, { latencyMs: 5, forMs: 60_000 });
    const expires = Date.parse(status.expiresAt!);
    assert.ok(expires >= before + 60_000 && expires <= Date.now() + 60_000, status.expiresAt!);

    assert.throws(() => injector.set({ errorRate: 7 }), FaultSpecError);
    assert.deepEqual(injector.status().fault, { latencyMs: 5, forMs: 60_000 });

    injector.set({ errorRate: 1 });
    assert.deepEqual(injector.status().fault, { errorRate: 1 });
    assert.equal(injector.status().expiresAt, null, 'a fault without forMs lasts until cleared');

    injector.clear();
    const cleared = injector.status();
    assert.equal(cleared.fault, null);
    assert.equal(cleared.ended?.reason, 'cleared');
  });

  it('a fault with forMs expires by itself', async () => {
    const injector = createFaultInjector({ enabled: true, service: 'payments' });
    injector.set({ errorRate: 1, forMs: 30 });
    assert.ok(injector.status().fault);
    await sleep(80);
    assert.equal(injector.status().fault, null);
    assert.equal(injector.status().ended?.reason, 'expired');
  });

  it('logs when a fault is set and when it ends', () => {
    const lines: Array<{ level: string; message: string; object: object }> = [];
    const log = {
      info: (object: object, message: string) => void lines.push({ level: 'info', object, message }),
      warn: (object: object, message: string) => void lines.push({ level: 'warn', object, message }),
    };
    const injector = createFaultInjector({ enabled: true, service: 'payments', log });
    injector.set({ latencyMs: 10 });
    injector.clear();
    assert.deepEqual(
      lines.map((l) => [l.level, l.message]),
      [
        ['warn', 'fault injection: fault set'],
        ['info', 'fault injection: fault cleared'],
      ],
    );
  });
});

describe('isLoopback (who may control faults)', () => {
  it('answers this machine only: IPv4 and IPv6 loopback, IPv4-mapped loopback', () => {
    for (const address of ['127.0.0.1', '127.0.0.2', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(address), true, address);
    for (const address of ['192.0.2.2', '10.0.0.5', '::ffff:10.0.0.5', 'fd00::2', 'fe80::1', '', undefined]) assert.equal(isLoopback(address), false, String(address));
  });
});
