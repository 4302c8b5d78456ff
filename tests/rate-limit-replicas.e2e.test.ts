/**
 * Two gateway processes sharing their rate-limit budgets through the Redis on
 * this machine (`TEST_REDIS_URL`, default redis://127.0.0.1:6379): what one
 * allowed, the other cannot allow again.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { isolatedEnvironment } from '@bazaar/runtime/testing/launcher';
import { routedServices, serviceUrlVariable } from '@bazaar/topology';

const gatewayMain = fileURLToPath(new URL('../services/gateway/src/main.ts', import.meta.url));
const redisUrl = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A gateway process of its own; resolves with its address once it reports ready. */
function startGateway(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [gatewayMain], { env: { ...isolatedEnvironment(), ...env }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('message', (message: { type?: string; address?: string }) => {
      if (message.type === 'ready') resolve({ child, url: String(message.address) });
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${stderr}`)));
  });
}

describe('rate limits shared by two gateway replicas through Redis', () => {
  const gateways: Array<{ child: ChildProcess; url: string }> = [];

  before(async () => {
    const env: Record<string, string> = {
      SERVICE_NAME: 'gateway',
      PORT: '0',
      DISCOVERY: 'static',
      LOG_LEVEL: 'warn',
      REDIS_URL: redisUrl,
      // A prefix of this run's own: other systems on the same Redis keep their budgets.
      RATE_LIMIT_REDIS_PREFIX: `bazaar-test:${randomUUID()}`,
      RATE_LIMIT_PER_MINUTE: '10',
    };
    // Nothing behind them is needed: the gateway's own root route is rate-limited too.
    for (const service of routedServices) env[serviceUrlVariable(service)] = 'http://127.0.0.1:9';
    gateways.push(...(await Promise.all([startGateway(env), startGateway(env)])));
  });

  after(async () => {
    await Promise.all(
      gateways.map(({ child }) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        return exited;
      }),
    );
  });

  it('allows the budget once across both replicas, then answers 429 with Retry-After on either', async () => {
    const answers: Array<{ gateway: number; status: number; headers: Record<string, unknown> }> = [];
    for (let i = 0; i < 14; i++) {
      const gateway = i % 2;
      const response = await request(`${gateways[gateway]!.url}/`);
      await response.body.dump();
      answers.push({ gateway, status: response.statusCode, headers: response.headers });
    }
    const allowed = answers.filter((a) => a.status === 200);
    assert.equal(allowed.length, 10, answers.map((a) => a.status).join(' '));
    assert.deepEqual(
      answers.map((a) => a.status),
      [...Array(10).fill(200), ...Array(4).fill(429)],
      'the first ten pass, whichever replica answers; every later one is refused',
    );
    assert.ok(allowed.some((a) => a.gateway === 0) && allowed.some((a) => a.gateway === 1));
    const refused = answers.at(-1)!;
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    assert.equal(refused.headers['ratelimit-limit'], '10');
    assert.equal(refused.headers['ratelimit-remaining'], '0');
  });
});
