-- Login throttle counters, shared by every identity replica (rate-limiter-flexible's
-- PostgreSQL store; the columns and their order are the ones its upsert writes).
-- A key is the limit's prefix and the normalized email or the client address;
-- `expire` is the end of the window in epoch milliseconds. Identity deletes rows an
-- hour after their window ended. Without this table each replica counted in its own
-- memory, and N replicas gave an attacker N times the attempts.
CREATE TABLE login_attempts (
  key     text PRIMARY KEY,
  points  integer NOT NULL DEFAULT 0,
  expire  bigint
);
CREATE INDEX login_attempts_expire_idx ON login_attempts (expire);
