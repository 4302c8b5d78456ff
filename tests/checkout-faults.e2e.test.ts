/**
 * A service SIGKILLed in the middle of checkouts, each in turn, restarted by the
 * launcher: every order still ends CONFIRMED or CANCELLED and the invariant
 * checker finds stock, money, shipments and notifications exact.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { freePort } from '@bazaar/runtime/ports';
import { readRuntimeFile } from '@bazaar/runtime/runtime-file';
import { servicePids, startSystem, stopSystem, type RunningSystem } from '@bazaar/runtime/testing/launcher';
import { cards, invariantsHold, newCustomer, newProduct, openShop, passes, placeOrder, settled, type Shop } from './fixtures/checkout.ts';

describe('checkout survives SIGKILL of any service mid-saga', () => {
  let system: RunningSystem;
  let stateDir: string;
  let shop: Shop;
  const admin = { email: 'ops@bazaar.test', password: `Adm-${randomBytes(12).toString('base64url')}` };

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'bazaar-e2e-checkout-faults-'));
    system = await startSystem(stateDir, await freePort(), {
      env: { BAZAAR_ADMIN_EMAIL: admin.email, BAZAAR_ADMIN_PASSWORD: admin.password },
    });
    shop = await openShop(system, admin);
  });

  after(async () => {
    if (system) await stopSystem(system);
    await rm(stateDir, { recursive: true, force: true });
  });

  for (const victim of ['orders', 'catalog', 'payments', 'shipping', 'notifications']) {
    it(`kills ${victim} mid-checkout; every order ends terminal`, async () => {
      const buyer = await newCustomer(shop);
      const product = await newProduct(shop, 4);
      const mix = [cards.approve, cards.approve, cards.decline, cards.approve, cards.approve, cards.insufficientFunds];
      const placed = await Promise.all(mix.map((card, i) => placeOrder(shop, buyer.token, [{ productId: product, quantity: 1 }], { card, country: i === 4 ? 'AQ' : 'FR' })));
      for (const p of placed) assert.equal(p.status, 202, p.text);
      // The sagas are in flight: the victim dies now, and the launcher restarts it.
      process.kill(servicePids(system)[victim]!, 'SIGKILL');
      const orders = await Promise.all(placed.map((p) => settled(shop, buyer.token, p.body.id, 120_000)));
      const runtime = await readRuntimeFile(stateDir);
      await passes(async () => {
        const ready = await request(`${runtime!.services[victim as 'orders']}/readyz`);
        await ready.body.dump();
        assert.equal(ready.statusCode, 200, `${victim} is back`);
      }, 60_000);
      // Four cards approve but only four units exist; AQ and the declines cancel: at most three confirm.
      assert.ok(orders.filter((o) => o.status === 'CONFIRMED').length <= 3);
      assert.ok(orders.every((o) => o.status === 'CONFIRMED' || o.status === 'CANCELLED'));
      await sleep(100);
    });
  }

  it('leaves every invariant holding', async () => {
    await invariantsHold(stateDir);
  });
});
