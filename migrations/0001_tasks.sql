-- Tasks and their state-change history. Times are epoch milliseconds (INTEGER) so that SQL
-- comparisons on leases and run_after are exact; the API renders them as ISO-8601 UTC.
CREATE TABLE tasks (
  id               TEXT PRIMARY KEY NOT NULL,
  status           TEXT NOT NULL DEFAULT 'created'
                   CHECK (status IN ('created','queued','running','completed','failed','retry','cancelled')),
  attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts     INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
  type             TEXT NOT NULL,
  description      TEXT,
  domain           TEXT,
  drift_score      REAL NOT NULL DEFAULT 0,
  params           TEXT NOT NULL DEFAULT '{}',
  result           TEXT,
  error            TEXT,
  run_after        INTEGER,
  locked_by        TEXT,
  locked_at        INTEGER,
  lease_expires_at INTEGER,
  last_heartbeat   INTEGER,
  idempotency_key  TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);

CREATE UNIQUE INDEX tasks_idempotency_key_uq ON tasks (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX tasks_claim_idx   ON tasks (status, run_after, created_at);
CREATE INDEX tasks_reaper_idx  ON tasks (status, lease_expires_at);
CREATE INDEX tasks_created_idx ON tasks (created_at);
CREATE INDEX tasks_type_idx    ON tasks (type);
CREATE INDEX tasks_domain_idx  ON tasks (domain);

-- Statements that set updated_at themselves (needed for RETURNING) win; others get it here.
CREATE TRIGGER tasks_touch_updated_at AFTER UPDATE ON tasks
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
  UPDATE tasks SET updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER) WHERE id = NEW.id;
END;

CREATE TABLE task_events (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id     TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  at          INTEGER NOT NULL,
  from_status TEXT,
  to_status   TEXT NOT NULL,
  attempt     INTEGER NOT NULL DEFAULT 0,
  actor       TEXT NOT NULL CHECK (actor IN ('api','dispatcher','reaper','dlq')),
  message     TEXT
);

CREATE INDEX task_events_task_idx ON task_events (task_id, id);
