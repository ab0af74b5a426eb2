-- Issue 23: the walks of tasks_type_status_idx (lists, bulk actions, retention, the dependency
-- backstop) order the tasks of one millisecond by rowid, which every index entry ends in, not by
-- id, which since 0013 it does not hold: a page no longer reads each candidate row to sort its
-- ties (at 1,000,000 rows `GET /tasks?type=` p50 had gone 2.8 → 4.7 ms). Ties now come in
-- submission order. API cursors carry the rowid; one issued before this migration still pages on.
--
-- The backstop's saved place is a (created_at, rowid) now. Its old place cannot be carried over,
-- so the scan starts again from the oldest `created` task, once.
DROP TABLE maintenance_cursors;
CREATE TABLE maintenance_cursors (
  name       TEXT PRIMARY KEY NOT NULL,
  at         INTEGER NOT NULL,
  task_rowid INTEGER NOT NULL,
  not_before INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
