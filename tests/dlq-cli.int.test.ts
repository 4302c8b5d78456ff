/**
 * `npm run dlq`: the CLI as a child process, against a real gateway in front of a
 * real consuming service with dead letters (the gateway's DLQ fixture).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startDlqFixture, UNREACHABLE_URL, type DlqFixture } from '../services/gateway/src/testing/dlq-fixture.ts';
import { HELP } from '../scripts/dlq.ts';

const script = fileURLToPath(new URL('../scripts/dlq.ts', import.meta.url));
let fixture: DlqFixture;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with only the environment given (nothing of the test's own leaks in). */
function dlq(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, ...args],
      { env: { PATH: process.env['PATH'] ?? '', BAZAAR_GATEWAY_URL: fixture.gatewayUrl, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}
const asAdmin = (args: string[], env: Record<string, string> = {}) => dlq(args, { BAZAAR_TOKEN: fixture.admin.token, ...env });

/** Neither the token nor the password may ever appear in what the CLI prints. */
function assertNoSecrets(run: Run): void {
  for (const secret of [fixture.admin.token, fixture.admin.password, fixture.customerToken]) {
    assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), 'a secret was printed');
  }
}

before(async () => {
  fixture = await startDlqFixture('cli_dlq');
});

after(async () => {
  await fixture?.close();
});

describe('usage', () => {
  it('prints help with exit 0, and refuses mistakes with exit 2 before calling anyone', async () => {
    for (const args of [['help'], ['--help'], ['list', '-h']]) {
      const run = await dlq(args);
      assert.equal(run.code, 0, args.join(' '));
      assert.equal(run.stdout, HELP);
    }
    const bare = await dlq([]);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /Usage: npm run dlq/);

    const mistakes: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['list', '--colour'], /--colour/],
      [['list', 'extra'], /list takes no arguments/],
      [['list', '--limit', '0'], /--limit/],
      [['show', 'notifications'], /show takes <service> <id>/],
      [['replay'], /replay takes <service> <id> \(or --all\)/],
      [['replay', '--all', 'notifications', randomUUID()], /not both/],
      [['discard', 'notifications', randomUUID(), '--service', 'notifications'], /--service does not apply/],
      [['list', '--gateway', 'ftp://example.com'], /http\(s\) URL/],
    ];
    for (const [args, message] of mistakes) {
      const run = await asAdmin(args);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, message, args.join(' '));
    }
    const anonymous = await dlq(['list']);
    assert.equal(anonymous.code, 2);
    assert.match(anonymous.stderr, /BAZAAR_TOKEN/);
  });
});

describe('credentials', () => {
  it('logs in with BAZAAR_ADMIN_EMAIL and BAZAAR_ADMIN_PASSWORD, printing neither password nor token', async () => {
    const run = await dlq(['list', '--json'], { BAZAAR_ADMIN_EMAIL: fixture.admin.email, BAZAAR_ADMIN_PASSWORD: fixture.admin.password });
    assert.equal(run.code, 0, run.stderr);
    // Only notifications runs in the fixture; the other consuming services are reported unavailable.
    assert.equal(JSON.parse(run.stdout).services.notifications, 'ok');
    assertNoSecrets(run);

    const wrong = await dlq(['list'], { BAZAAR_ADMIN_EMAIL: fixture.admin.email, BAZAAR_ADMIN_PASSWORD: 'not-the-password-42' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /Email or password is incorrect/);
    assert.ok(!wrong.stderr.includes('not-the-password-42'));
  });

  it('takes --token, and fails with the problem title for a customer or a bad token', async () => {
    const flag = await dlq(['list', '--token', fixture.admin.token]);
    assert.equal(flag.code, 0, flag.stderr);
    assertNoSecrets(flag);
    const customer = await dlq(['list'], { BAZAAR_TOKEN: fixture.customerToken });
    assert.equal(customer.code, 1);
    assert.match(customer.stderr, /You are not allowed to do this/);
    assertNoSecrets(customer);
    const garbage = await dlq(['list'], { BAZAAR_TOKEN: 'not.a.token' });
    assert.equal(garbage.code, 1);
    assert.match(garbage.stderr, /Authentication is required/);
  });

  it('fails with exit 1 when the gateway cannot be reached', async () => {
    // A port that was free a moment ago (fetch refuses some low ports, such as 9, outright).
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const run = await asAdmin(['list'], { BAZAAR_GATEWAY_URL: `http://127.0.0.1:${port}` });
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`cannot reach the gateway at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });
});

describe('commands', () => {
  it('lists dead letters as a table, or as JSON', async () => {
    const { deadLetterId } = await fixture.deadLetterOne();
    const run = await asAdmin(['list']);
    assert.equal(run.code, 0, run.stderr);
    const [header, ...lines] = run.stdout.trimEnd().split('\n');
    assert.match(header!, /^SERVICE\s+ID\s+MESSAGE\s+REASON\s+ATTEMPTS\s+REPLAYS\s+DEAD AT\s+ERROR$/);
    const row = lines.find((line) => line.includes(deadLetterId));
    assert.ok(row, 'the dead letter has a row');
    assert.match(row, /^notifications\s+\S+\s+identity\.user-registered\.v1\s+HANDLER_FAILED\s+1\s+0\s+\S+ \S+\s+Error: the mail server is down$/);
    assert.match(lines.at(-1)!, /^\d+ dead letters?$/);
    assertNoSecrets(run);

    const json = await asAdmin(['list', '--json', '--service', 'notifications', '--message', 'identity.user-registered.v1', '--limit', '500']);
    assert.equal(json.code, 0);
    assert.ok(JSON.parse(json.stdout).items.some((i: { id: string }) => i.id === deadLetterId));
    const none = await asAdmin(['list', '--message', 'catalog.stock-changed.v1']);
    assert.equal(none.stdout, 'No dead letters.\n');
    const unknown = await asAdmin(['list', '--service', 'identity']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /No such service/);
  });

  it('warns about a service it could not reach, still listing', async () => {
    const degraded = await fixture.startGateway({ notifications: UNREACHABLE_URL });
    const run = await asAdmin(['list'], { BAZAAR_GATEWAY_URL: degraded.url });
    assert.equal(run.code, 0);
    assert.equal(run.stdout, 'No dead letters.\n');
    assert.match(run.stderr, /could not reach [a-z, ]*notifications/);
    await degraded.close();
  });

  it('shows one dead letter with its message', async () => {
    const { deadLetterId, envelope } = await fixture.deadLetterOne();
    const run = await asAdmin(['show', 'notifications', deadLetterId]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`Id:\\s+${deadLetterId}`));
    assert.match(run.stdout, /Reason:\s+HANDLER_FAILED/);
    assert.ok(run.stdout.includes(`"id": "${envelope.id}"`), 'the message is printed');
    const json = await asAdmin(['show', 'notifications', deadLetterId, '--json']);
    assert.deepEqual(JSON.parse(json.stdout).message, envelope);
    const missing = await asAdmin(['show', 'notifications', randomUUID()]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such dead letter/);
  });

  it('replays one: exit 1 with the error while the handler fails, 0 once delivered', async () => {
    const { deadLetterId } = await fixture.deadLetterOne();
    const failing = await asAdmin(['replay', 'notifications', deadLetterId]);
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /failed again when replayed.*mail server is down/);
    fixture.handler.failing = false;
    try {
      const run = await asAdmin(['replay', 'notifications', deadLetterId]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `notifications ${deadLetterId}: delivered\n`);
    } finally {
      fixture.handler.failing = true;
    }
  });

  it('replays all: exit 1 when some fail, 0 when all are delivered', async () => {
    await fixture.deadLetterOne();
    const failing = await asAdmin(['replay', '--all', '--message', 'identity.user-registered.v1']);
    assert.equal(failing.code, 1);
    assert.match(failing.stdout, /^0 replayed, \d+ failed$/m);
    assert.match(failing.stderr, /failed again/);
    fixture.handler.failing = false;
    try {
      const run = await asAdmin(['replay', '--all', '--service', 'notifications']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^notifications \S+: delivered$/m);
      assert.match(run.stdout, /^[1-9]\d* replayed, 0 failed$/m);
    } finally {
      fixture.handler.failing = true;
    }
    assert.equal((await asAdmin(['list'])).stdout, 'No dead letters.\n');
  });

  it('discards one: exit 0, then exit 1 as it is gone', async () => {
    const { deadLetterId } = await fixture.deadLetterOne();
    const run = await asAdmin(['discard', 'notifications', deadLetterId]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `notifications ${deadLetterId}: discarded\n`);
    const again = await asAdmin(['discard', 'notifications', deadLetterId]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /No such dead letter/);
    const invalid = await asAdmin(['discard', 'notifications', 'not-a-uuid']);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /The request is not valid/);
  });
});
