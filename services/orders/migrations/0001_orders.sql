-- Orders: the event store (the source of truth), snapshots, the read models
-- projected from it, the checkout saga's index, and idempotency keys.

-- One append-only stream per order. (order_id, version) is the optimistic
-- concurrency check: two writers expecting the same version cannot both append.
CREATE TABLE order_events (
  position        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  order_id        uuid NOT NULL,
  version         integer NOT NULL CHECK (version >= 1),
  type            text NOT NULL CHECK (type ~ '^[A-Z][A-Za-z]{1,63}$'),
  -- The event's schema version: old versions stay as written and are upcast on load.
  schema_version  integer NOT NULL CHECK (schema_version >= 1),
  data            jsonb NOT NULL,
  metadata        jsonb NOT NULL DEFAULT '{}',
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_id, version)
);

-- Events are facts: never updated, never deleted.
CREATE FUNCTION order_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'order_events is append-only';
END $$;
CREATE TRIGGER order_events_append_only BEFORE UPDATE OR DELETE ON order_events
  FOR EACH ROW EXECUTE FUNCTION order_events_append_only();

-- The latest snapshot of an order's state; loading starts here and applies the
-- events after `version`. A snapshot of another state_version is ignored.
CREATE TABLE order_snapshots (
  order_id       uuid PRIMARY KEY,
  version        integer NOT NULL,
  state_version  integer NOT NULL,
  state          jsonb NOT NULL,
  taken_at       timestamptz NOT NULL DEFAULT now()
);

-- Read model: a customer's order list.
CREATE TABLE order_summaries (
  order_id      uuid PRIMARY KEY,
  customer_id   uuid NOT NULL,
  status        text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED')),
  total_amount  bigint NOT NULL,
  currency      char(3) NOT NULL,
  item_count    integer NOT NULL,
  placed_at     timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  version       integer NOT NULL
);
CREATE INDEX order_summaries_customer_idx ON order_summaries (customer_id, placed_at DESC, order_id DESC);

-- Read model: an order's detail page, one JSON document per order.
CREATE TABLE order_details (
  order_id     uuid PRIMARY KEY,
  customer_id  uuid NOT NULL,
  document     jsonb NOT NULL,
  version      integer NOT NULL
);

-- The checkout saga of each order (at most one: the primary key). The saga's
-- state is the order's stream; this row is its index for the deadline sweeper.
CREATE TABLE sagas (
  order_id     uuid PRIMARY KEY,
  status       text NOT NULL CHECK (status IN ('RUNNING', 'COMPENSATING', 'CONFIRMED', 'CANCELLED')),
  -- The reply the saga waits for, and until when.
  awaiting     text,
  deadline_at  timestamptz,
  -- Attempts of the current compensation; it is resent with backoff until it succeeds.
  attempts     integer NOT NULL DEFAULT 0,
  started_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT deadline_while_running CHECK ((status IN ('RUNNING', 'COMPENSATING')) = (deadline_at IS NOT NULL))
);
CREATE INDEX sagas_deadline_idx ON sagas (deadline_at) WHERE deadline_at IS NOT NULL;

-- What the saga did, step by step: commands sent, replies, timeouts, retries.
CREATE TABLE saga_timeline (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id  uuid NOT NULL REFERENCES sagas (order_id),
  at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  action    text NOT NULL,
  step      text,
  detail    text
);
CREATE INDEX saga_timeline_order_idx ON saga_timeline (order_id, id);

-- Idempotency-Key per customer: the same key and body answer the stored response.
CREATE TABLE idempotency_keys (
  customer_id   uuid NOT NULL,
  key           text NOT NULL,
  fingerprint   text NOT NULL,
  order_id      uuid NOT NULL,
  response      jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (customer_id, key)
);

-- Keys orders generates for itself at first start (the request-fingerprint key).
CREATE TABLE service_keys (
  name        text PRIMARY KEY,
  value       text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
