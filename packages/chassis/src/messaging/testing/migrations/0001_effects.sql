-- The effect of the test handler: deliberately without a unique constraint, so a
-- message handled twice would show up as two rows (only the inbox prevents it).
CREATE TABLE effects (
  message_id uuid NOT NULL,
  user_id    uuid NOT NULL,
  handled_at timestamptz NOT NULL DEFAULT now()
);
