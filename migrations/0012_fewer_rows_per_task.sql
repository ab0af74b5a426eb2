-- Issue 23: fewer D1 rows written per task (docs/SCALING.md, "What each index costs").
--
-- 1. Per-type status counts are no longer kept by per-row triggers (one task_types write per task
--    per transition). Every transition already upserts its `transition` rollup rows once per
--    batch; their label now ends with the task type (`actor|from|to|type`), so the counts per type
--    are the net of those rows, read when asked for (GET /types). task_types keeps one row per
--    type for its pause flag; a new type's row is made by an insert that ignores existing rows
--    (no row written when the type is known).
DROP TRIGGER tasks_count_type_insert;
DROP TRIGGER tasks_count_type_update;
DROP TRIGGER tasks_count_type_delete;
ALTER TABLE task_types DROP COLUMN created;
ALTER TABLE task_types DROP COLUMN queued;
ALTER TABLE task_types DROP COLUMN running;
ALTER TABLE task_types DROP COLUMN retry;
ALTER TABLE task_types DROP COLUMN completed;
ALTER TABLE task_types DROP COLUMN failed;
ALTER TABLE task_types DROP COLUMN cancelled;
CREATE TRIGGER tasks_type_known AFTER INSERT ON tasks
BEGIN
  INSERT OR IGNORE INTO task_types (type) VALUES (NEW.type);
END;

-- 2. The queue-wait and run-time histograms ride on the transition rows (bucket = the duration's
--    histogram bucket, -1 for a transition without one) instead of rows of their own. The
--    transition counters restart from what the table holds now, one `api||<status>|<type>` row per
--    type and status, so the gauges stay the net of the transitions; the histograms restart empty.
DELETE FROM rollups WHERE metric IN ('transition', 'queue_wait', 'run_time');
INSERT INTO rollups (metric, bucket, label, n, total)
  SELECT 'transition', -1, 'api||' || status || '|' || type, count(*), 0 FROM tasks GROUP BY type, status;

-- 3. One index for lists by type, by status, by both and by neither (a seek per type and status,
--    merged), where three were kept: each transition moved two of them. The reaper reads the
--    running tasks through it too (there are at most as many as leases held), so the lease index
--    goes, and with it a row written at each claim.
DROP INDEX tasks_created_idx;
DROP INDEX tasks_status_created_idx;
DROP INDEX tasks_type_created_idx;
DROP INDEX tasks_lease_idx;
CREATE INDEX tasks_type_status_idx ON tasks (type, status, created_at, id);
