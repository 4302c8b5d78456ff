-- A saga waits on every command of a stage at once (capture-payment and
-- commit-stock go out together): `awaiting` holds the commands sent and not yet
-- answered. A row written by the previous release keeps its one command.
ALTER TABLE sagas
  ALTER COLUMN awaiting TYPE text[] USING CASE WHEN awaiting IS NULL THEN '{}'::text[] ELSE ARRAY[awaiting] END,
  ALTER COLUMN awaiting SET DEFAULT '{}',
  ALTER COLUMN awaiting SET NOT NULL;
