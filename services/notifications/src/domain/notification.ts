import { Type, type Static } from '@bazaar/chassis';

/** Where a notification is delivered: the in-app inbox only, or also by email. Every notification shows in the inbox. */
export const Channel = Type.Union([Type.Literal('inbox'), Type.Literal('email')]);
export type Channel = Static<typeof Channel>;

/** What a notification is about, e.g. `welcome`: the template it was written from. */
export const Kind = Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$' });

export const DeliveryStatus = Type.Union([Type.Literal('pending'), Type.Literal('sent'), Type.Literal('failed')]);
export type DeliveryStatus = Static<typeof DeliveryStatus>;

export const Delivery = Type.Object({
  status: DeliveryStatus,
  sentAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const NotificationView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  kind: Kind,
  channel: Channel,
  orderId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], { description: 'The order it is about; null when none' }),
  subject: Type.String(),
  body: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  readAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'When the recipient marked it read; null while unread' }),
  delivery: Type.Union([Delivery, Type.Null()], { description: 'How the email is going (channel email); null for the inbox only' }),
});
export type NotificationView = Static<typeof NotificationView>;

/** A notification's content, before it is addressed and stored. */
export interface Message {
  kind: string;
  subject: string;
  body: string;
}

/**
 * The business event a notification is about: at most one notification per key,
 * whichever message (or republished copy of it) announced the event.
 */
export function dedupeKey(kind: string, about: string): string {
  return `${kind}:${about}`;
}
