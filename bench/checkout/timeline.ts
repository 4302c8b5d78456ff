/**
 * Where a saga checkout's time goes, from the orders service's saga timeline (each
 * command written and each reply handled, stamped by the orders process's clock as it decides)
 * and the client's own send and seen instants — all on this machine's clock.
 */
import pg from 'pg';
import { quantile, type Attempt } from './load.ts';

interface Row {
  order_id: string;
  at: Date;
  action: string;
  step: string | null;
}

const epoch = (t: number) => performance.timeOrigin + t;

/** Median and p95 per segment over the confirmed checkouts given, as markdown table rows. */
export async function sagaBreakdown(ordersUrl: string, attempts: Attempt[]): Promise<{ rows: string[]; orders: number }> {
  const confirmed = attempts.filter((a) => a.outcome === 'confirmed' && a.orderId);
  const client = new pg.Client({ connectionString: ordersUrl, application_name: 'bench-checkout-timeline' });
  await client.connect();
  let rows: Row[];
  try {
    rows = (await client.query<Row>('SELECT order_id, at, action, step FROM saga_timeline WHERE order_id = ANY($1::uuid[]) ORDER BY id', [confirmed.map((a) => a.orderId)])).rows;
  } finally {
    await client.end();
  }
  const byOrder = new Map<string, Row[]>();
  for (const row of rows) byOrder.set(row.order_id, [...(byOrder.get(row.order_id) ?? []), row]);

  const segments = new Map<string, number[]>();
  const add = (name: string, ms: number) => segments.set(name, [...(segments.get(name) ?? []), ms]);
  for (const attempt of confirmed) {
    const timeline = byOrder.get(attempt.orderId!) ?? [];
    const sent = timeline.filter((r) => r.action === 'command sent');
    const done = timeline.find((r) => r.action === 'confirmed');
    if (sent.length === 0 || !done || timeline.some((r) => r.action === 'command resent' || r.action === 'deadline passed')) continue;
    add('client POST → first command written (placement: gateway, auth, catalog prices, payments card token, order transaction)', sent[0]!.at.getTime() - epoch(attempt.sentAt));
    // Commands written by one decision (a stage: capture-payment and commit-stock go out together)
    // follow the same reply; the transition is counted once per decision.
    let transitions = 0;
    const repliedAt: number[] = [];
    let counted = -1;
    for (const command of sent) {
      const reply = timeline.find((r) => r.action === 'reply' && r.step === command.step && r.at >= command.at);
      if (!reply) continue;
      add(`${command.step}: command written → reply handled in orders (relay, broker, participant, relay, broker)`, reply.at.getTime() - command.at.getTime());
      const previous = Math.max(-1, ...repliedAt.filter((at) => at <= command.at.getTime()));
      if (previous >= 0 && previous !== counted) {
        transitions += command.at.getTime() - previous;
        counted = previous;
      }
      repliedAt.push(reply.at.getTime());
    }
    add('orders: reply handled → next command written, summed over steps', transitions);
    if (repliedAt.length > 0) add('last reply handled → CONFIRMED recorded', done.at.getTime() - Math.max(...repliedAt));
    add('CONFIRMED recorded → seen by the client (commit, projection NOTIFY, read, SSE through the gateway)', epoch(attempt.doneAt) - done.at.getTime());
    add('total (client POST → CONFIRMED seen)', attempt.doneAt - attempt.sentAt);
  }
  const out: string[] = [];
  for (const [name, values] of segments) {
    const sorted = [...values].sort((a, b) => a - b);
    out.push(`| ${name} | ${quantile(sorted, 0.5).toFixed(1)} | ${quantile(sorted, 0.95).toFixed(1)} |`);
  }
  return { rows: out, orders: segments.get('total (client POST → CONFIRMED seen)')?.length ?? 0 };
}
