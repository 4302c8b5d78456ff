-- Messaging tables of a service's own database (owned by the chassis, applied
-- before the service's migrations): the transactional outbox, the inbox of
-- processed messages, and the dead-letter queue.

CREATE TABLE outbox (
  seq          bigserial PRIMARY KEY,
  id           uuid NOT NULL UNIQUE,
  message_name text NOT NULL,
  key          text NOT NULL,
  body         text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
-- The relay reads only what is left to publish; pruning reads only what was published.
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE inbox (
  consumer     text NOT NULL,
  message_id   uuid NOT NULL,
  message_name text NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, message_id)
);
CREATE INDEX inbox_processed_at ON inbox (processed_at);

CREATE TABLE dead_letters (
  id             uuid PRIMARY KEY,
  consumer       text NOT NULL,
  message_id     uuid,
  message_name   text,
  raw            text NOT NULL,
  reason         text NOT NULL CHECK (reason IN ('SCHEMA_INVALID', 'UNDECODABLE', 'NO_HANDLER', 'HANDLER_FAILED')),
  error          text NOT NULL,
  attempts       integer NOT NULL,
  dead_at        timestamptz NOT NULL DEFAULT now(),
  last_replay_at timestamptz,
  replays        integer NOT NULL DEFAULT 0
);
-- A redelivery of a message already dead-lettered (crash before the ack) adds nothing.
CREATE UNIQUE INDEX dead_letters_once ON dead_letters (consumer, message_id) WHERE message_id IS NOT NULL;
CREATE INDEX dead_letters_by_time ON dead_letters (dead_at);
