import type { TSchema } from 'typebox';

/** An event is broadcast to every subscribing group; a command (or reply) is addressed to one. */
export type MessageKind = 'event' | 'command' | 'reply';

export interface MessageContract<S extends TSchema = TSchema> {
  readonly kind: MessageKind;
  /** One line for the AsyncAPI document and the docs. */
  readonly summary: string;
  /** Which field of `data` is the aggregate key (the ordering key), for the docs. */
  readonly key: string;
  readonly schema: S;
}

export function defineMessage<S extends TSchema>(contract: MessageContract<S>): MessageContract<S> {
  return contract;
}
