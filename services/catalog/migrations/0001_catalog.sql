-- Catalog: categories, products with their price and stock.
CREATE TABLE categories (
  slug        text PRIMARY KEY CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
  id              uuid PRIMARY KEY,
  sku             text NOT NULL UNIQUE CHECK (sku ~ '^[A-Z0-9][A-Z0-9-]{1,63}$'),
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description     text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
  price_amount    bigint NOT NULL CHECK (price_amount >= 0),
  price_currency  char(3) NOT NULL CHECK (price_currency ~ '^[A-Z]{3}$'),
  category        text NOT NULL REFERENCES categories (slug),
  images          text[] NOT NULL DEFAULT '{}',
  active          boolean NOT NULL DEFAULT true,
  -- Stock is never negative and never less than what is reserved: the database
  -- enforces it, so no code path (or concurrent pair of them) can oversell.
  on_hand         integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
  reserved        integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  CONSTRAINT reserved_within_on_hand CHECK (reserved <= on_hand),
  version         integer NOT NULL DEFAULT 1,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  search          tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', name), 'A') ||
                    setweight(to_tsvector('simple', sku), 'A') ||
                    setweight(to_tsvector('english', description), 'B')
                  ) STORED
);

CREATE INDEX products_search_idx ON products USING gin (search);
CREATE INDEX products_category_idx ON products (category, name) WHERE active;
CREATE INDEX products_active_name_idx ON products (name) WHERE active;

-- Every stock adjustment, who made it and why: the audit trail of on_hand.
CREATE TABLE stock_adjustments (
  id          bigserial PRIMARY KEY,
  product_id  uuid NOT NULL REFERENCES products (id),
  delta       integer NOT NULL CHECK (delta <> 0),
  reason      text NOT NULL,
  actor       text NOT NULL,
  on_hand     integer NOT NULL,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_adjustments_product_idx ON stock_adjustments (product_id, at);
