-- Notifications: the messages Bazaar sends its customers, one row per message
-- per channel. 'inbox' is the in-app inbox; other channels (email) come later.
CREATE TABLE notifications (
  id                 uuid PRIMARY KEY,
  recipient_id       uuid NOT NULL,
  channel            text NOT NULL CHECK (channel IN ('inbox')),
  kind               text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9-]{0,63}$'),
  subject            text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
  body               text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
  -- The message that caused this notification. The inbox already makes a
  -- redelivery a no-op; this constraint is the second line of defence, so no
  -- code path (a replayed dead letter, a handler bug) can notify twice.
  source_message_id  uuid NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  read_at            timestamptz,
  CONSTRAINT notifications_once_per_message UNIQUE (source_message_id, kind),
  CONSTRAINT read_after_created CHECK (read_at IS NULL OR read_at >= created_at)
);

-- A recipient's notifications, newest first (the inbox listing).
CREATE INDEX notifications_recipient_newest_idx ON notifications (recipient_id, created_at DESC, id DESC);
