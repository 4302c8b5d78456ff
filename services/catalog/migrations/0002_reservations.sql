-- Inventory reservations for checkout. on_hand counts every unit in the
-- warehouse, reserved ones included; committing an order moves its units out
-- (on_hand -q, reserved -q, sold +q). So per product, at all times:
--   sum(stock_adjustments.delta) = on_hand + sold
--   reserved = sum of the lines of RESERVED reservations
--   sold     = sum of the lines of COMMITTED reservations
ALTER TABLE products ADD COLUMN sold integer NOT NULL DEFAULT 0 CHECK (sold >= 0);

-- One row per order, whatever happened to it: the answer to every repeated command.
CREATE TABLE reservations (
  order_id       uuid PRIMARY KEY,
  status         text NOT NULL CHECK (status IN ('RESERVED', 'COMMITTED', 'RELEASED', 'EXPIRED', 'REJECTED')),
  -- A refusal is answered again exactly as the first time.
  reject_code    text CHECK (reject_code ~ '^[A-Z][A-Z0-9_]{1,63}$'),
  reject_reason  text CHECK (length(reject_reason) BETWEEN 1 AND 500),
  CONSTRAINT rejected_has_code CHECK ((status = 'REJECTED') = (reject_code IS NOT NULL)),
  -- When an uncommitted hold lapses; null for rejections and tombstones.
  expires_at     timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
-- What the sweeper looks for.
CREATE INDEX reservations_due_idx ON reservations (expires_at) WHERE status = 'RESERVED';

-- The units held for an order, one row per product (duplicate lines are summed).
-- Rejections and tombstones have none.
CREATE TABLE reservation_lines (
  order_id    uuid NOT NULL REFERENCES reservations (order_id),
  product_id  uuid NOT NULL REFERENCES products (id),
  quantity    integer NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (order_id, product_id)
);
CREATE INDEX reservation_lines_product_idx ON reservation_lines (product_id);
