-- Identity: users and their roles, credentials, addresses, refresh tokens and the
-- keys access tokens are signed with.

CREATE TABLE users (
  id             uuid PRIMARY KEY,
  -- Stored normalized (trimmed, lower-cased); the unique index below is what makes
  -- registration safe under concurrency, whatever the application checked before.
  email          text NOT NULL CHECK (email = lower(btrim(email)) AND length(email) BETWEEN 3 AND 254),
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  -- PHC string of an argon2id hash; never leaves this service.
  password_hash  text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
  roles          text[] NOT NULL DEFAULT '{customer}'
                 CHECK (cardinality(roles) >= 1 AND roles <@ ARRAY['customer', 'admin']::text[]),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_admins_idx ON users (created_at) WHERE 'admin' = ANY (roles);

CREATE TABLE addresses (
  id           uuid PRIMARY KEY,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  label        text CHECK (length(label) BETWEEN 1 AND 50),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  line1        text NOT NULL CHECK (length(line1) BETWEEN 1 AND 200),
  line2        text CHECK (length(line2) BETWEEN 1 AND 200),
  city         text NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
  postal_code  text NOT NULL CHECK (length(postal_code) BETWEEN 1 AND 20),
  country      char(2) NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX addresses_user_idx ON addresses (user_id, created_at);

-- Refresh tokens: opaque random strings of which only the SHA-256 hash is kept.
-- Each login starts a family; every refresh marks its token used and adds the next
-- one to the family. A used token presented again revokes the whole family.
CREATE TABLE refresh_tokens (
  id          uuid PRIMARY KEY,
  token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  family_id   uuid NOT NULL,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Ed25519 signing keys. The newest key without retired_at signs; a rotated key gets
-- retired_at = rotation time + the longest access-token lifetime (+ margin) and is
-- published in the JWKS until then, so tokens it signed keep verifying.
CREATE TABLE signing_keys (
  kid          text PRIMARY KEY,
  public_jwk   jsonb NOT NULL,
  private_jwk  jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  retired_at   timestamptz
);
-- At most one key signs at any time.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL;
