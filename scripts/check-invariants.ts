/**
 * npm run check:invariants [-- --state DIR] [-- --grace 60]
 *
 * Reads every service's database and prints each violated checkout invariant
 * (exit 1), or a summary (exit 0). Where the databases are: the per-service
 * `<SERVICE>_DATABASE_URL` variables when all are set (production), otherwise the
 * runtime file of the `npm start` running on the state folder (default .bazaar).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readRuntimeFile } from '@bazaar/runtime/runtime-file';
import { databaseUrlVariable } from '@bazaar/topology';
import { checkInvariants, type InvariantDatabases } from './invariants.ts';

const services = ['orders', 'catalog', 'payments', 'shipping', 'notifications'] as const;
const { values: flags } = parseArgs({
  options: {
    state: { type: 'string', default: process.env['BAZAAR_STATE_DIR'] ?? resolve(fileURLToPath(new URL('../.bazaar', import.meta.url))) },
    grace: { type: 'string', default: '60' },
    help: { type: 'boolean', default: false },
  },
});

if (flags.help) {
  process.stdout.write('usage: npm run check:invariants -- [--state DIR] [--grace SECONDS]\n  orders PENDING for less than --grace seconds are in flight and not judged.\n');
  process.exit(0);
}
const graceSeconds = Number(flags.grace);
if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
  process.stderr.write(`--grace must be a number of seconds, got "${flags.grace}"\n`);
  process.exit(2);
}

async function locate(): Promise<InvariantDatabases> {
  const fromEnv = Object.fromEntries(services.map((s) => [s, process.env[databaseUrlVariable(s)]]));
  if (services.every((s) => fromEnv[s])) return fromEnv as unknown as InvariantDatabases;
  const runtime = await readRuntimeFile(flags.state!);
  if (!runtime) throw new Error(`no running system at ${flags.state} (start it with npm start, or set ${services.map((s) => databaseUrlVariable(s)).join(', ')})`);
  const missing = services.filter((s) => !runtime.databases[s]);
  if (missing.length > 0) throw new Error(`the running system has no database for ${missing.join(', ')}`);
  return runtime.databases as InvariantDatabases;
}

try {
  const report = await checkInvariants(await locate(), { graceMs: graceSeconds * 1000 });
  const { confirmed, cancelled, pending, inFlight } = report.orders;
  process.stdout.write(`orders: ${confirmed} confirmed, ${cancelled} cancelled, ${pending} stuck pending, ${inFlight} in flight; products: ${report.products}\n`);
  if (report.violations.length === 0) {
    process.stdout.write('every invariant holds\n');
    process.exit(0);
  }
  for (const v of report.violations) process.stdout.write(`VIOLATED ${v.invariant.padEnd(13)} ${v.subject}  ${v.detail}\n`);
  process.stdout.write(`${report.violations.length} violation(s)\n`);
  process.exit(1);
} catch (error) {
  process.stderr.write(`check:invariants: ${(error as Error).message}\n`);
  process.exit(2);
}
