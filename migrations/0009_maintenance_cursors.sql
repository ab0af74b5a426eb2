-- Issue 20: where the maintenance alarm's scans left off, so a scan over millions of rows goes on
-- tick after tick in bounded chunks instead of starting over (or reading them all) every tick.
-- One row per scan; `at`, `id` is the last row it looked at, in the scan's (created_at, id) order;
-- `not_before` (epoch ms) holds the next pass back after one ended, so a small set is not read every tick.
CREATE TABLE maintenance_cursors (
  name       TEXT PRIMARY KEY NOT NULL,
  at         INTEGER NOT NULL,
  id         TEXT NOT NULL,
  not_before INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
