-- Cheaper shape for history (the event rows were the largest single cost of a task): the timeline
-- lives in the task row as a JSON array, and every counter, gauge, histogram and per-minute
-- figure comes from a small rollups table updated in the same transaction as the transitions.

ALTER TABLE tasks ADD COLUMN events TEXT NOT NULL DEFAULT '[]';
-- [at, from_status, to_status, attempt, actor, message] per state change, oldest first.
UPDATE tasks SET events = (
  SELECT json_group_array(json_array(e.at, e.from_status, e.to_status, e.attempt, e.actor, e.message))
  FROM (SELECT * FROM task_events WHERE task_id = tasks.id ORDER BY id) AS e)
WHERE EXISTS (SELECT 1 FROM task_events WHERE task_id = tasks.id);

-- metric 'transition' (label actor|from|to; gauges are the net of these), 'minute' (bucket = the
-- minute in epoch ms, label submitted|completed|failed|retry), 'queue_wait' and 'run_time'
-- (bucket = histogram bucket index, total = sum of ms), 'counter' (label = name).
CREATE TABLE rollups (
  metric TEXT NOT NULL,
  bucket INTEGER NOT NULL DEFAULT 0,
  label  TEXT NOT NULL DEFAULT '',
  n      INTEGER NOT NULL DEFAULT 0,
  total  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (metric, bucket, label)
) WITHOUT ROWID;

INSERT INTO rollups (metric, bucket, label, n)
SELECT 'transition', 0, actor || '|' || coalesce(from_status, '') || '|' || to_status, count(*)
FROM task_events GROUP BY actor, from_status, to_status;
INSERT INTO rollups (metric, bucket, label, n) SELECT 'counter', 0, name, value FROM metric_counters;

DROP TABLE task_events;
DROP TABLE metric_counters;

-- Indexes: partial where only some states need finding, (key, created_at, id) where lists page.
DROP INDEX tasks_claim_idx;
DROP INDEX tasks_reaper_idx;
DROP INDEX tasks_created_idx;
DROP INDEX tasks_type_idx;
DROP INDEX tasks_domain_idx;
CREATE INDEX tasks_waiting_idx ON tasks (run_after) WHERE status IN ('queued', 'retry') AND run_after IS NOT NULL;
CREATE INDEX tasks_lease_idx ON tasks (lease_expires_at) WHERE status = 'running';
CREATE INDEX tasks_created_idx ON tasks (created_at, id);
CREATE INDEX tasks_status_created_idx ON tasks (status, created_at, id);
CREATE INDEX tasks_type_created_idx ON tasks (type, created_at, id);
CREATE INDEX tasks_domain_created_idx ON tasks (domain, created_at, id);
CREATE INDEX tasks_finished_idx ON tasks (status, updated_at) WHERE status IN ('completed', 'failed', 'cancelled');
