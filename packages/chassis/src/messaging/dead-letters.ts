import { Type } from 'typebox';
import { checkMessage, DeadLetterSummary, ReplayOutcome as ReplayOutcomeSchema, type Envelope } from '@bazaar/contracts/messages';
import { decodeMessage } from './broker.ts';
import type { MessageConsumer } from './consumer.ts';
import type { Database } from '../database.ts';
import { AppError } from '../problem.ts';
import type { ServiceApp } from '../service.ts';

export interface DeadLetter extends DeadLetterSummary {
  /** The message as received: parsed JSON when it parses, otherwise the raw text. */
  message: unknown;
}

interface Row {
  id: string;
  consumer: string;
  message_id: string | null;
  message_name: string | null;
  raw: string;
  reason: string;
  error: string;
  attempts: number;
  dead_at: Date;
  replays: number;
  last_replay_at: Date | null;
}

const summary = (row: Row): DeadLetterSummary => ({
  id: row.id,
  service: row.consumer,
  messageId: row.message_id,
  messageName: row.message_name,
  reason: row.reason,
  error: row.error,
  attempts: row.attempts,
  deadAt: row.dead_at.toISOString(),
  replays: row.replays,
  lastReplayAt: row.last_replay_at?.toISOString() ?? null,
});

export type ReplayOutcome = { id: string; outcome: 'delivered' | 'duplicate' } | { id: string; outcome: 'failed'; error: string };

/**
 * The dead-letter queue of one consumer, in the service's own database: list,
 * inspect, replay, discard. Replay runs the message through the consumer's
 * handler exactly as a delivery would — validated, in one transaction with the
 * inbox record — and removes the dead letter in that same transaction, so a
 * replayed message takes effect once. A replay that fails again leaves the
 * dead letter where it was, with the new error.
 */
export class DeadLetterQueue {
  private readonly db: Database;
  private readonly consumer: MessageConsumer;

  constructor(db: Database, consumer: MessageConsumer) {
    this.db = db;
    this.consumer = consumer;
  }

  async list(filter: { messageName?: string | undefined; limit?: number | undefined } = {}): Promise<{ items: DeadLetterSummary[]; total: number }> {
    const { rows } = await this.db.query<Row & { total: number }>(
      `SELECT *, count(*) OVER ()::int AS total FROM dead_letters
       WHERE consumer = $1 AND ($2::text IS NULL OR message_name = $2) ORDER BY dead_at, id LIMIT $3`,
      [this.consumer.group, filter.messageName ?? null, filter.limit ?? 100],
    );
    return { items: rows.map(summary), total: rows[0]?.total ?? 0 };
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM dead_letters WHERE consumer = $1 AND id = $2', [this.consumer.group, id]);
    const row = rows[0];
    if (!row) return undefined;
    return { ...summary(row), message: decodeMessage(row.raw) ?? row.raw };
  }

  async discard(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM dead_letters WHERE consumer = $1 AND id = $2', [this.consumer.group, id]);
    return (rowCount ?? 0) > 0;
  }

  async replay(id: string): Promise<ReplayOutcome | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM dead_letters WHERE consumer = $1 AND id = $2', [this.consumer.group, id]);
    const row = rows[0];
    if (!row) return undefined;
    try {
      const checked = checkMessage(decodeMessage(row.raw));
      if (!checked.ok) throw new Error(`still does not match its contract: ${checked.errors.join('; ')}`);
      const handler = this.consumer.handlerFor(checked.name);
      if (!handler) throw new Error(`${this.consumer.group} has no handler for ${checked.name}`);
      const envelope: Envelope = checked.envelope;
      const duplicate = await this.consumer.handle(envelope, handler, async (tx) => {
        await tx.query('DELETE FROM dead_letters WHERE id = $1', [id]);
      });
      return { id, outcome: duplicate ? 'duplicate' : 'delivered' };
    } catch (error) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      await this.db.query('UPDATE dead_letters SET replays = replays + 1, last_replay_at = now(), error = $2 WHERE id = $1', [id, text.slice(0, 4000)]);
      return { id, outcome: 'failed', error: text };
    }
  }

  /** Replays every dead letter (of one message name, if given), oldest first. */
  async replayAll(filter: { messageName?: string | undefined } = {}): Promise<ReplayOutcome[]> {
    const results: ReplayOutcome[] = [];
    for (;;) {
      const { items } = await this.list({ messageName: filter.messageName, limit: 100 });
      const fresh = items.filter((item) => !results.some((r) => r.id === item.id));
      if (fresh.length === 0) return results;
      for (const item of fresh) {
        const outcome = await this.replay(item.id);
        if (outcome) results.push(outcome);
      }
    }
  }
}

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

/**
 * Admin-only routes of a consuming service's dead-letter queue, under `base`
 * (e.g. `/api/notifications/admin/dlq`); the gateway's `/api/admin/dlq` gathers them.
 */
export function installDeadLetterRoutes(app: ServiceApp, base: string, queue: DeadLetterQueue): void {
  const admin = app.requireRole('admin');
  const tags = ['dead-letter queue'];
  const notFound = () => new AppError('DEAD_LETTER_NOT_FOUND', 'No dead letter with this id in this service');

  app.get(
    base,
    {
      onRequest: admin,
      schema: {
        tags,
        summary: 'Dead letters of this service, oldest first',
        querystring: Type.Object({ messageName: Type.Optional(Type.String({ maxLength: 200 })), limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) }),
        response: { 200: Type.Object({ items: Type.Array(DeadLetterSummary), total: Type.Integer() }) },
      },
    },
    async (request) => queue.list(request.query),
  );

  app.get(
    `${base}/:id`,
    { onRequest: admin, schema: { tags, summary: 'One dead letter with its message', params: IdParams } },
    async (request) => {
      const letter = await queue.get(request.params.id);
      if (!letter) throw notFound();
      return letter;
    },
  );

  app.post(
    `${base}/:id/replay`,
    { onRequest: admin, schema: { tags, summary: 'Run the message through its handler again', params: IdParams, response: { 200: ReplayOutcomeSchema } } },
    async (request) => {
      const outcome = await queue.replay(request.params.id);
      if (!outcome) throw notFound();
      if (outcome.outcome === 'failed') throw new AppError('DEAD_LETTER_REPLAY_FAILED', outcome.error);
      return outcome;
    },
  );

  app.post(
    `${base}/replay`,
    {
      onRequest: admin,
      schema: {
        tags,
        summary: 'Replay every dead letter (optionally of one message name), oldest first',
        // Optional body: Fastify validates a missing body as null, so null must be allowed.
        body: Type.Union([Type.Object({ messageName: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }), Type.Null()]),
        response: { 200: Type.Object({ replayed: Type.Integer(), failed: Type.Integer(), results: Type.Array(ReplayOutcomeSchema) }) },
      },
    },
    async (request) => {
      const results = await queue.replayAll({ messageName: request.body?.messageName });
      const failed = results.filter((r) => r.outcome === 'failed').length;
      return { replayed: results.length - failed, failed, results };
    },
  );

  app.delete(
    `${base}/:id`,
    { onRequest: admin, schema: { tags, summary: 'Discard a dead letter for good', params: IdParams } },
    async (request, reply) => {
      if (!(await queue.discard(request.params.id))) throw notFound();
      return reply.code(204).send();
    },
  );
}
