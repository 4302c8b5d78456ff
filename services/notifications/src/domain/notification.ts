import { Type, type Static } from '@bazaar/chassis';

/** Where a notification is delivered. Only the in-app inbox for now; email comes later. */
export const Channel = Type.Union([Type.Literal('inbox')]);
export type Channel = Static<typeof Channel>;

/** What a notification is about, e.g. `welcome`: the template it was written from. */
export const Kind = Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$' });

export const NotificationView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  kind: Kind,
  channel: Channel,
  subject: Type.String(),
  body: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  readAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'When the recipient marked it read; null while unread' }),
});
export type NotificationView = Static<typeof NotificationView>;

/** A notification's content, before it is addressed and stored. */
export interface Message {
  kind: string;
  subject: string;
  body: string;
}
