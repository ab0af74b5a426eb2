-- The database decides what runs (DESIGN §4): a pass claims the best due tasks by one order key,
-- through a partial index over the claimable states, instead of the ids a queue message carried.

-- Seconds of head start (DESIGN §13); 0 until the API exposes it.
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
-- UTF-8 bytes of params + description, so a pass can cap what it claims by size without reading them.
ALTER TABLE tasks ADD COLUMN input_bytes INTEGER NOT NULL DEFAULT 0;
-- SHA-256 of the submitted body, so a reused idempotency key with a different body is a conflict.
ALTER TABLE tasks ADD COLUMN request_hash TEXT;
-- Claim order: due time minus head start (ms). Virtual, so it costs nothing to store.
ALTER TABLE tasks ADD COLUMN sort_key INTEGER
  GENERATED ALWAYS AS (max(created_at, coalesce(run_after, 0)) - priority * 1000) VIRTUAL;

CREATE INDEX tasks_due_idx ON tasks (sort_key, id) WHERE status IN ('queued', 'retry');

-- Durable counters for things that are not task transitions (dead-lettered wake-ups).
CREATE TABLE metric_counters (
  name  TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL DEFAULT 0
);
