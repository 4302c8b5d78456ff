-- Payment methods: what payments keeps of a tokenized card. Brand and last four
-- only: the card number and the CVC are never stored (nor logged). `behaviour`
-- is how the simulated processor answers for this card, decided from the number
-- at tokenization so the number itself can be forgotten.
CREATE TABLE payment_methods (
  token        text PRIMARY KEY CHECK (token ~ '^pm_[A-Za-z0-9_-]{24}$'),
  customer_id  uuid NOT NULL,
  brand        text NOT NULL CHECK (brand IN ('visa', 'mastercard', 'amex', 'unknown')),
  last4        text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
  exp_month    integer NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
  exp_year     integer NOT NULL CHECK (exp_year BETWEEN 2000 AND 2200),
  behaviour    text NOT NULL CHECK (behaviour IN ('approve', 'decline', 'insufficient_funds', 'transient', 'slow')),
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- Payments: one row per order (the saga's participant record). Amounts are
-- integer minor units. A compensation for an order never seen records a
-- tombstone (VOIDED, amount 0, authorized_amount NULL, no customer or currency)
-- so that a late authorize is refused instead of taking money for a closed order.
CREATE TABLE payments (
  id                uuid PRIMARY KEY,
  order_id          uuid NOT NULL UNIQUE,
  customer_id       uuid,
  amount            bigint NOT NULL CHECK (amount >= 0),
  currency          text CHECK (currency ~ '^[A-Z]{3}$'),
  status            text NOT NULL CHECK (status IN ('AUTHORIZED', 'CAPTURED', 'VOIDED', 'REFUNDED', 'DECLINED')),
  brand             text CHECK (brand IN ('visa', 'mastercard', 'amex', 'unknown')),
  last4             text CHECK (last4 ~ '^[0-9]{4}$'),
  -- Why the processor (or payments) refused the authorization; DECLINED only.
  decline_code      text CHECK (decline_code ~ '^[A-Z][A-Z0-9_]{1,63}$'),
  -- What was authorized; NULL when nothing ever was (a decline, a tombstone).
  authorized_amount bigint CHECK (authorized_amount >= 0),
  captured_amount   bigint NOT NULL DEFAULT 0 CHECK (captured_amount >= 0),
  refunded_amount   bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT declined_has_code CHECK ((status = 'DECLINED') = (decline_code IS NOT NULL)),
  CONSTRAINT declined_authorizes_nothing CHECK (status <> 'DECLINED' OR authorized_amount IS NULL),
  CONSTRAINT authorized_before_settled CHECK (status NOT IN ('AUTHORIZED', 'CAPTURED', 'REFUNDED') OR authorized_amount IS NOT NULL),
  CONSTRAINT tombstone_is_empty CHECK (
    (customer_id IS NULL) = (status = 'VOIDED' AND authorized_amount IS NULL)
    AND (currency IS NULL) = (customer_id IS NULL)
    AND (customer_id IS NOT NULL OR amount = 0)
  ),
  CONSTRAINT captured_within_authorized CHECK (captured_amount <= coalesce(authorized_amount, 0)),
  CONSTRAINT refunded_within_captured CHECK (refunded_amount <= captured_amount),
  CONSTRAINT captured_once_captured CHECK ((captured_amount > 0) <= (status IN ('CAPTURED', 'REFUNDED'))),
  CONSTRAINT updated_after_created CHECK (updated_at >= created_at)
);

-- A customer's payments, newest first (the listing).
CREATE INDEX payments_customer_newest_idx ON payments (customer_id, created_at DESC, id DESC);
