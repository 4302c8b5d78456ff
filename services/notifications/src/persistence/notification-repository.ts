import { randomUUID } from 'node:crypto';
import type { Queryable } from '@bazaar/chassis';
import type { Channel, DeliveryStatus, Message, NotificationView } from '../domain/notification.ts';

interface NotificationRow {
  id: string;
  kind: string;
  channel: Channel;
  order_id: string | null;
  subject: string;
  body: string;
  created_at: Date;
  read_at: Date | null;
  delivery_status: DeliveryStatus | null;
  sent_at: Date | null;
}

const columns = 'id, kind, channel, order_id, subject, body, created_at, read_at, delivery_status, sent_at';

function toView(row: NotificationRow): NotificationView {
  return {
    id: row.id,
    kind: row.kind,
    channel: row.channel,
    orderId: row.order_id,
    subject: row.subject,
    body: row.body,
    createdAt: row.created_at.toISOString(),
    readAt: row.read_at?.toISOString() ?? null,
    delivery: row.delivery_status ? { status: row.delivery_status, sentAt: row.sent_at?.toISOString() ?? null } : null,
  };
}

/** The inbox only, or also an email to `emailTo` (sent later by the email sender, never in the handler's transaction). */
export type Addressing = { channel: 'inbox' } | { channel: 'email'; emailTo: string };

export type NewNotification = Message &
  Addressing & {
    recipientId: string;
    /** The id of the message that caused it; one notification of each kind per message. */
    sourceMessageId: string;
    /** The business event it is about (see `dedupeKey`); one notification per event, whatever message announced it. */
    dedupeKey: string;
    /** The order it is about, if any. */
    orderId?: string;
  };

export interface InboxQuery {
  unreadOnly: boolean;
  page: number;
  pageSize: number;
}

/**
 * Notifications in the service's own database. It works on whatever it is given
 * to query with: the pool for requests, a message handler's transaction for the
 * notifications a message causes (so they commit with the inbox record).
 */
export class NotificationRepository {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  /**
   * Stores `notification` (an email as pending, due now); false when its source
   * message or its business event already produced one.
   */
  async record(notification: NewNotification): Promise<boolean> {
    const emailTo = notification.channel === 'email' ? notification.emailTo : null;
    const { rowCount } = await this.db.query(
      `INSERT INTO notifications (id, recipient_id, channel, kind, subject, body, source_message_id, dedupe_key, order_id,
                                  email_to, delivery_status, next_attempt_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text,
               CASE WHEN $10::text IS NULL THEN NULL ELSE 'pending' END,
               CASE WHEN $10::text IS NULL THEN NULL ELSE now() END)
       ON CONFLICT DO NOTHING`,
      [
        randomUUID(),
        notification.recipientId,
        notification.channel,
        notification.kind,
        notification.subject,
        notification.body,
        notification.sourceMessageId,
        notification.dedupeKey,
        notification.orderId ?? null,
        emailTo,
      ],
    );
    return rowCount === 1;
  }

  /** One page of `recipientId`'s notifications, newest first, and how many there are in all. */
  async listFor(recipientId: string, query: InboxQuery): Promise<{ items: NotificationView[]; total: number }> {
    const where = query.unreadOnly ? 'recipient_id = $1 AND read_at IS NULL' : 'recipient_id = $1';
    const { rows } = await this.db.query<NotificationRow & { total: string }>(
      `SELECT ${columns}, count(*) OVER () AS total FROM notifications
        WHERE ${where}
        ORDER BY created_at DESC, id DESC
        LIMIT $2 OFFSET $3`,
      [recipientId, query.pageSize, (query.page - 1) * query.pageSize],
    );
    if (rows[0]) return { items: rows.map(toView), total: Number(rows[0].total) };
    if (query.page === 1) return { items: [], total: 0 };
    // Past the last page: still report how many there are.
    const count = await this.db.query<{ total: string }>(`SELECT count(*) AS total FROM notifications WHERE ${where}`, [recipientId]);
    return { items: [], total: Number(count.rows[0]?.total ?? 0) };
  }

  /**
   * Marks notification `id` read if `recipientId` is its recipient; marking it
   * again keeps the first time it was read. Undefined when the recipient has no
   * such notification (someone else's looks exactly like an unknown one).
   */
  async markRead(id: string, recipientId: string): Promise<NotificationView | undefined> {
    const { rows } = await this.db.query<NotificationRow>(
      `UPDATE notifications SET read_at = coalesce(read_at, now())
        WHERE id = $1 AND recipient_id = $2
        RETURNING ${columns}`,
      [id, recipientId],
    );
    return rows[0] && toView(rows[0]);
  }
}
