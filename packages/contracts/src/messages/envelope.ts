import { Type, type Static } from 'typebox';

/**
 * What travels on the broker: one message, its identity, its place in a causal
 * chain and its trace, around the payload (`data`) whose schema the message's
 * contract defines. The same envelope goes through the outbox, both broker
 * adapters, the inbox and the dead-letter queue.
 */
export const Envelope = Type.Object(
  {
    /** Unique per message; the broker de-duplicates on it and the inbox records it. */
    id: Type.String({ format: 'uuid' }),
    /** Contract type without version, e.g. `identity.user-registered`. */
    type: Type.String({ pattern: '^[a-z][a-z0-9-]*\\.[a-z][a-z0-9-]*$', maxLength: 120 }),
    /** Contract version; `type` + `.v` + `version` names the schema of `data`. */
    version: Type.Integer({ minimum: 1, maximum: 1000 }),
    /** When the state change that produced the message was committed (ISO 8601). */
    time: Type.String({ format: 'date-time' }),
    /** Aggregate key: messages with the same key are delivered in the order they were written. */
    key: Type.String({ minLength: 1, maxLength: 200 }),
    /** Id of the request or message chain this message belongs to (the gateway's x-request-id). */
    correlationId: Type.String({ minLength: 1, maxLength: 200 }),
    /** Id of the message whose handling produced this one; null when a request produced it. */
    causationId: Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()]),
    /** W3C trace context of the span that wrote the message. */
    traceparent: Type.Optional(Type.String({ maxLength: 55 })),
    tracestate: Type.Optional(Type.String({ maxLength: 512 })),
    /** Commands and replies only: the consumer group (service) the message is addressed to. */
    destination: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9-]*$', maxLength: 60 })),
    /** Commands only: the consumer group that receives the reply. */
    replyTo: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9-]*$', maxLength: 60 })),
    data: Type.Unknown(),
  },
  { additionalProperties: false, $id: 'Envelope' },
);
export type Envelope = Static<typeof Envelope>;

/** `identity.user-registered.v1`: the name under which a contract is registered. */
export function messageName(envelope: Pick<Envelope, 'type' | 'version'>): string {
  return `${envelope.type}.v${envelope.version}`;
}

/** Splits `identity.user-registered.v1` into type and version. */
export function parseMessageName(name: string): { type: string; version: number } {
  const match = /^(.+)\.v(\d+)$/.exec(name);
  if (!match) throw new Error(`"${name}" is not a message name (expected <context>.<name>.v<version>)`);
  return { type: match[1]!, version: Number(match[2]) };
}
