-- Shipments: one row per order, booked with the simulated carrier when checkout
-- asks, cancelled by its compensation, dispatched once the order is confirmed.
CREATE TABLE shipments (
  id               uuid PRIMARY KEY,
  -- One shipment per order: every command is answered from this row, so a
  -- redelivered or replayed command never books twice.
  order_id         uuid NOT NULL,
  -- Null only for a tombstone: a cancellation for an order never seen here.
  customer_id      uuid,
  status           text NOT NULL CHECK (status IN ('BOOKED', 'CANCELLED', 'DISPATCHED', 'REJECTED')),
  tracking_number  text CHECK (tracking_number ~ '^BZ[0-9A-Z]{12}$'),
  carrier          text NOT NULL,
  -- {name, line1, city, postalCode, country}; null for a tombstone.
  address          jsonb,
  -- [{productId, quantity}]; null for a tombstone.
  lines            jsonb,
  -- Why the carrier refused the booking (REJECTED only), e.g. DESTINATION_UNSUPPORTED.
  reject_code      text,
  -- The carrier's words for the refusal, so a repeated command answers them again.
  reject_reason    text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  cancelled_at     timestamptz,
  dispatched_at    timestamptz,
  CONSTRAINT shipments_one_per_order UNIQUE (order_id),
  CONSTRAINT shipments_tracking_number_unique UNIQUE (tracking_number),
  CONSTRAINT booked_has_everything CHECK (status NOT IN ('BOOKED', 'DISPATCHED') OR (tracking_number IS NOT NULL AND customer_id IS NOT NULL AND address IS NOT NULL AND lines IS NOT NULL)),
  CONSTRAINT rejected_has_code CHECK ((status = 'REJECTED') = (reject_code IS NOT NULL AND reject_reason IS NOT NULL)),
  CONSTRAINT rejected_has_no_tracking CHECK (status <> 'REJECTED' OR tracking_number IS NULL),
  CONSTRAINT dispatched_when CHECK ((status = 'DISPATCHED') = (dispatched_at IS NOT NULL)),
  CONSTRAINT cancelled_when CHECK ((status = 'CANCELLED') = (cancelled_at IS NOT NULL)),
  -- A customer-less row can only be a tombstone.
  CONSTRAINT only_tombstones_lack_a_customer CHECK (customer_id IS NOT NULL OR (status = 'CANCELLED' AND address IS NULL AND lines IS NULL AND tracking_number IS NULL))
);

-- A customer's shipments, newest first (the listing).
CREATE INDEX shipments_customer_newest_idx ON shipments (customer_id, created_at DESC, id DESC);
-- Every shipment, newest first (the admin listing).
CREATE INDEX shipments_newest_idx ON shipments (created_at DESC, id DESC);
