/**
 * The consumer side of bench/events/run.ts in a process of its own (BENCH_CONSUMER=child):
 * a MessageConsumer of group `notifications` on the service database and broker given in
 * BENCH_CONSUMER_CONFIG. Started and stopped over IPC; reports, in batches, when each
 * delivery's handler resolved (transaction committed, delivery acked), on its own
 * performance clock — the parent shifts it by the difference of the time origins.
 */
import { Database, type MessageConsumer } from '@bazaar/chassis';
import { FLOWS, benchConsumer, makeBroker, type BrokerConfig, type FromConsumer, type ToConsumer } from './shared.ts';

const config = JSON.parse(process.env['BENCH_CONSUMER_CONFIG'] ?? '{}') as { databaseUrl: string; broker: BrokerConfig };
const send = (message: FromConsumer) => process.send!(message);
const db = new Database({ connectionString: config.databaseUrl, applicationName: 'bench-consumer', max: 10 });
const broker = makeBroker(config.broker, 'consumer');
await broker.declare(FLOWS);

let ids: string[] = [];
let delivered: number[] = [];
let at: number[] = [];
const flush = () => {
  if (ids.length === 0) return;
  send({ type: 'settled', ids, delivered, at });
  ids = [];
  delivered = [];
  at = [];
};
const flusher = setInterval(flush, 20);
let consumer: MessageConsumer | undefined;
let loop = performance.eventLoopUtilization();

process.on('message', (message: ToConsumer) => {
  void (async () => {
    if (message.type === 'start') {
      consumer = benchConsumer(db, broker, (id, deliveredAt, t) => {
        ids.push(id);
        delivered.push(deliveredAt);
        at.push(t);
        if (ids.length >= 256) flush();
      });
      loop = performance.eventLoopUtilization();
      await consumer.start();
      send({ type: 'started' });
    } else if (message.type === 'stop') {
      await consumer?.stop();
      consumer = undefined;
      flush();
      send({ type: 'stopped', elu: performance.eventLoopUtilization(loop).utilization });
    } else {
      clearInterval(flusher);
      await consumer?.stop();
      await broker.close();
      await db.close();
      process.exit(0);
    }
  })().catch((error: unknown) => {
    process.stderr.write(`bench consumer: ${(error as Error).stack}\n`);
    process.exit(1);
  });
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', timeOrigin: performance.timeOrigin });
