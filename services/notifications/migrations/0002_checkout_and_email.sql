-- Checkout news (order confirmed or cancelled, shipment dispatched, refund issued)
-- and delivery by email, next to the in-app inbox.

-- Who notifications go to, as identity registered them: where email is sent.
CREATE TABLE recipients (
  user_id     uuid PRIMARY KEY,
  email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE notifications
  -- The order a notification is about (none for a welcome).
  ADD COLUMN order_id         uuid,
  -- The business event a notification is about, `<kind>:<order id>` (or `welcome:<user id>`).
  -- Unique, so the same event republished under a new message id cannot notify twice.
  ADD COLUMN dedupe_key       text,
  -- Email only: the address it was sent to, and how its delivery goes.
  ADD COLUMN email_to         text CHECK (length(email_to) BETWEEN 3 AND 254),
  ADD COLUMN delivery_status  text CHECK (delivery_status IN ('pending', 'sent', 'failed')),
  ADD COLUMN attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  ADD COLUMN next_attempt_at  timestamptz,
  ADD COLUMN last_error       text,
  ADD COLUMN sent_at          timestamptz;

-- Existing rows: a registration's first welcome stands for the user, anything else
-- for its own message (already unique per message and kind).
UPDATE notifications n
   SET dedupe_key = CASE
     WHEN n.kind = 'welcome' AND n.id = (SELECT w.id FROM notifications w WHERE w.kind = 'welcome' AND w.recipient_id = n.recipient_id ORDER BY w.created_at, w.id LIMIT 1)
       THEN 'welcome:' || n.recipient_id
     ELSE n.kind || ':' || n.source_message_id
   END;

ALTER TABLE notifications
  ALTER COLUMN dedupe_key SET NOT NULL,
  ADD CONSTRAINT notifications_once_per_event UNIQUE (dedupe_key),
  ADD CONSTRAINT notifications_dedupe_key_check CHECK (length(dedupe_key) BETWEEN 3 AND 200),
  DROP CONSTRAINT notifications_channel_check,
  ADD CONSTRAINT notifications_channel_check CHECK (channel IN ('inbox', 'email')),
  -- An email has an address and a delivery; an inbox notification has neither.
  ADD CONSTRAINT email_has_delivery CHECK (
    (channel = 'inbox' AND email_to IS NULL AND delivery_status IS NULL)
    OR (channel = 'email' AND email_to IS NOT NULL AND delivery_status IS NOT NULL)
  ),
  ADD CONSTRAINT pending_has_next_attempt CHECK (delivery_status IS DISTINCT FROM 'pending' OR next_attempt_at IS NOT NULL),
  ADD CONSTRAINT sent_iff_sent_at CHECK ((delivery_status IS NOT DISTINCT FROM 'sent') = (sent_at IS NOT NULL));

-- What the email sender looks for: pending emails, earliest due first.
CREATE INDEX notifications_email_due_idx ON notifications (next_attempt_at) WHERE delivery_status = 'pending';
