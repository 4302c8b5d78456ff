import { Type, type Static } from 'typebox';

/**
 * The dead-letter queue on the wire: what a consuming service's
 * `/api/<service>/admin/dlq` answers, what the gateway's `/api/admin/dlq`
 * gathers, and what `npm run dlq` prints.
 */
export const DeadLetterSummary = Type.Object({
  id: Type.String({ format: 'uuid' }),
  /** The consuming service (consumer group) whose queue holds it. */
  service: Type.String(),
  messageId: Type.Union([Type.String(), Type.Null()]),
  messageName: Type.Union([Type.String(), Type.Null()]),
  reason: Type.String({ description: 'SCHEMA_INVALID | UNDECODABLE | NO_HANDLER | HANDLER_FAILED' }),
  /** The last error: the handler's, or what the message failed to match. */
  error: Type.String(),
  attempts: Type.Integer(),
  deadAt: Type.String({ format: 'date-time' }),
  replays: Type.Integer(),
  lastReplayAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type DeadLetterSummary = Static<typeof DeadLetterSummary>;

export const ReplayOutcome = Type.Object({
  id: Type.String(),
  outcome: Type.String({ description: 'delivered | duplicate | failed' }),
  error: Type.Optional(Type.String()),
});
export type ReplayOutcome = Static<typeof ReplayOutcome>;
