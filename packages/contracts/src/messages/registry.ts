import type { Static } from 'typebox';
import { catalogMessages } from './catalog.ts';
import { checkoutMessages } from './checkout.ts';
import { identityMessages } from './identity.ts';
import type { MessageContract } from './define.ts';


/**
 * Every message the system exchanges, by versioned name. A new version of a
 * message is a new entry (`….v2`) beside the old one, never an edit of it.
 */
export const messageContracts = {
  ...identityMessages,
  ...catalogMessages,
  ...checkoutMessages,
} as const satisfies Record<string, MessageContract>;

export type MessageName = keyof typeof messageContracts;
export type MessageData<N extends MessageName> = Static<(typeof messageContracts)[N]['schema']>;

export function isMessageName(name: string): name is MessageName {
  return Object.hasOwn(messageContracts, name);
}
