-- Issue 23: a plain queued task (no run_after, no priority, no concurrency key) leaves no entry in
-- tasks_due_idx. Its order key is its created_at, so the claim takes it from its entry in
-- tasks_type_status_idx, the one every list already walks, oldest first: one row written less per
-- task (the insert wrote the row, its id, its list entry and its due entry; now the first three).
--
-- `lane` splits the `queued` range of tasks_type_status_idx: 0 holds the plain tasks, 1 every
-- other queued task (delayed, with a head start, or with a key), which the claim still takes by
-- order key through tasks_due_idx and tasks_key_due_idx. Every other status is lane 0, so a list
-- walks one range per type and status, two for `queued`. The column is a real one, not a generated
-- one: SQLite does not use an index over a generated column as a covering index, and lists read
-- only the index. The trigger below refuses any write whose lane disagrees with the rule, so a
-- task can never be claimed early (lane 0 with a run_after) or vanish from a list.
ALTER TABLE tasks ADD COLUMN lane INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET lane = 1 WHERE status = 'queued' AND (run_after IS NOT NULL OR priority <> 0 OR concurrency_key IS NOT NULL);

CREATE TRIGGER tasks_lane_insert BEFORE INSERT ON tasks
WHEN NEW.lane IS NOT (NEW.status = 'queued' AND (NEW.run_after IS NOT NULL OR NEW.priority <> 0 OR NEW.concurrency_key IS NOT NULL))
BEGIN SELECT RAISE(ABORT, 'tasks.lane disagrees with status, run_after, priority and concurrency_key'); END;

CREATE TRIGGER tasks_lane_update BEFORE UPDATE OF status, lane, run_after, priority, concurrency_key ON tasks
WHEN NEW.lane IS NOT (NEW.status = 'queued' AND (NEW.run_after IS NOT NULL OR NEW.priority <> 0 OR NEW.concurrency_key IS NOT NULL))
BEGIN SELECT RAISE(ABORT, 'tasks.lane disagrees with status, run_after, priority and concurrency_key'); END;

DROP INDEX tasks_due_idx;
CREATE INDEX tasks_due_idx ON tasks (type, sort_key, id)
  WHERE status IN ('queued', 'retry') AND concurrency_key IS NULL AND (status = 'retry' OR lane = 1);

DROP INDEX tasks_type_status_idx;
CREATE INDEX tasks_type_status_idx ON tasks (type, status, lane, created_at);
