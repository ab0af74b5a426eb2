-- Flow control and scheduling (DESIGN §13): concurrency keys with fair turns, pause/resume per
-- type and per key, cron schedules. Counts per key and per type are kept by triggers, so every
-- statement that changes a task's status (whoever wrote it) keeps them right in its own transaction.

ALTER TABLE tasks ADD COLUMN concurrency_key TEXT;
-- The limit the submission asked for (or configured for the key's prefix); the key's row keeps the latest.
ALTER TABLE tasks ADD COLUMN concurrency_limit INTEGER;
-- 1 while the task's type is paused: the task leaves the due indexes, so a paused backlog costs no claim anything.
ALTER TABLE tasks ADD COLUMN held INTEGER NOT NULL DEFAULT 0;

-- The claim reads tasks without a key from here, oldest order key first (as before)…
DROP INDEX tasks_due_idx;
CREATE INDEX tasks_due_idx ON tasks (sort_key, id)
  WHERE status IN ('queued', 'retry') AND concurrency_key IS NULL AND held = 0;
-- …and each key's oldest due tasks from here, so a key's backlog never sits in front of another's.
CREATE INDEX tasks_key_due_idx ON tasks (concurrency_key, sort_key, id)
  WHERE status IN ('queued', 'retry') AND concurrency_key IS NOT NULL AND held = 0;
-- What a resume releases (only held rows are in it).
CREATE INDEX tasks_held_idx ON tasks (type) WHERE held = 1 AND status IN ('queued', 'retry');
-- GET /tasks?concurrency_key=…, newest first (only keyed rows are in it).
CREATE INDEX tasks_key_created_idx ON tasks (concurrency_key, created_at, id) WHERE concurrency_key IS NOT NULL;

-- One row per key ever used. `waiting` counts queued + retry tasks, `running` the running ones;
-- `served_at` is when a pass last claimed one of its tasks (keys take turns, least recently served first).
CREATE TABLE concurrency_keys (
  key         TEXT PRIMARY KEY NOT NULL,
  max_running INTEGER NOT NULL DEFAULT 1,
  waiting     INTEGER NOT NULL DEFAULT 0,
  running     INTEGER NOT NULL DEFAULT 0,
  paused      INTEGER NOT NULL DEFAULT 0,
  served_at   INTEGER NOT NULL DEFAULT 0
);
-- The keys a claim may serve, in turn order.
CREATE INDEX concurrency_keys_turn_idx ON concurrency_keys (served_at, key)
  WHERE waiting > 0 AND paused = 0 AND running < max_running;

-- One row per task type: the paused flag and the number of tasks in each status.
CREATE TABLE task_types (
  type      TEXT PRIMARY KEY NOT NULL,
  paused    INTEGER NOT NULL DEFAULT 0,
  created   INTEGER NOT NULL DEFAULT 0,
  queued    INTEGER NOT NULL DEFAULT 0,
  running   INTEGER NOT NULL DEFAULT 0,
  retry     INTEGER NOT NULL DEFAULT 0,
  completed INTEGER NOT NULL DEFAULT 0,
  failed    INTEGER NOT NULL DEFAULT 0,
  cancelled INTEGER NOT NULL DEFAULT 0
);
INSERT INTO task_types (type, created, queued, running, retry, completed, failed, cancelled)
SELECT type, sum(status = 'created'), sum(status = 'queued'), sum(status = 'running'), sum(status = 'retry'),
       sum(status = 'completed'), sum(status = 'failed'), sum(status = 'cancelled')
FROM tasks GROUP BY type;

CREATE TRIGGER tasks_count_type_insert AFTER INSERT ON tasks
BEGIN
  INSERT INTO task_types (type, created, queued, running, retry, completed, failed, cancelled)
  VALUES (NEW.type, NEW.status = 'created', NEW.status = 'queued', NEW.status = 'running', NEW.status = 'retry',
          NEW.status = 'completed', NEW.status = 'failed', NEW.status = 'cancelled')
  ON CONFLICT (type) DO UPDATE SET
    created = created + excluded.created, queued = queued + excluded.queued, running = running + excluded.running,
    retry = retry + excluded.retry, completed = completed + excluded.completed, failed = failed + excluded.failed,
    cancelled = cancelled + excluded.cancelled;
END;

CREATE TRIGGER tasks_count_type_update AFTER UPDATE OF status ON tasks
FOR EACH ROW WHEN OLD.status IS NOT NEW.status
BEGIN
  UPDATE task_types SET
    created = created + (NEW.status = 'created') - (OLD.status = 'created'),
    queued = queued + (NEW.status = 'queued') - (OLD.status = 'queued'),
    running = running + (NEW.status = 'running') - (OLD.status = 'running'),
    retry = retry + (NEW.status = 'retry') - (OLD.status = 'retry'),
    completed = completed + (NEW.status = 'completed') - (OLD.status = 'completed'),
    failed = failed + (NEW.status = 'failed') - (OLD.status = 'failed'),
    cancelled = cancelled + (NEW.status = 'cancelled') - (OLD.status = 'cancelled')
  WHERE type = NEW.type;
END;

CREATE TRIGGER tasks_count_type_delete AFTER DELETE ON tasks
BEGIN
  UPDATE task_types SET
    created = created - (OLD.status = 'created'), queued = queued - (OLD.status = 'queued'),
    running = running - (OLD.status = 'running'), retry = retry - (OLD.status = 'retry'),
    completed = completed - (OLD.status = 'completed'), failed = failed - (OLD.status = 'failed'),
    cancelled = cancelled - (OLD.status = 'cancelled')
  WHERE type = OLD.type;
END;

CREATE TRIGGER tasks_count_key_insert AFTER INSERT ON tasks
FOR EACH ROW WHEN NEW.concurrency_key IS NOT NULL
BEGIN
  INSERT INTO concurrency_keys (key, max_running, waiting, running)
  VALUES (NEW.concurrency_key, coalesce(NEW.concurrency_limit, 1), NEW.status IN ('queued', 'retry'), NEW.status = 'running')
  ON CONFLICT (key) DO UPDATE SET
    max_running = excluded.max_running, waiting = waiting + excluded.waiting, running = running + excluded.running;
END;

CREATE TRIGGER tasks_count_key_update AFTER UPDATE OF status ON tasks
FOR EACH ROW WHEN NEW.concurrency_key IS NOT NULL AND OLD.status IS NOT NEW.status
BEGIN
  UPDATE concurrency_keys SET
    waiting = waiting + (NEW.status IN ('queued', 'retry')) - (OLD.status IN ('queued', 'retry')),
    running = running + (NEW.status = 'running') - (OLD.status = 'running'),
    served_at = CASE WHEN NEW.status = 'running' THEN max(served_at, coalesce(NEW.locked_at, 0)) ELSE served_at END
  WHERE key = NEW.concurrency_key;
END;

CREATE TRIGGER tasks_count_key_delete AFTER DELETE ON tasks
FOR EACH ROW WHEN OLD.concurrency_key IS NOT NULL
BEGIN
  UPDATE concurrency_keys SET
    waiting = waiting - (OLD.status IN ('queued', 'retry')), running = running - (OLD.status = 'running')
  WHERE key = OLD.concurrency_key;
END;

-- A task that comes back to waiting (retry, reaper rescue, /run) while its type is paused is held
-- again, whichever statement moved it. Only paused types pay for the extra write.
CREATE TRIGGER tasks_hold_paused_type AFTER UPDATE OF status ON tasks
FOR EACH ROW WHEN NEW.status IN ('queued', 'retry') AND OLD.status NOT IN ('queued', 'retry')
  AND EXISTS (SELECT 1 FROM task_types WHERE type = NEW.type AND paused = 1)
BEGIN
  -- updated_at moves on by 1 ms so tasks_touch_updated_at keeps the statement's own clock.
  UPDATE tasks SET held = 1, updated_at = NEW.updated_at + 1 WHERE id = NEW.id;
END;

-- Cron schedules: a task template fired at each slot of `cron` in `timezone`.
CREATE TABLE schedules (
  name         TEXT PRIMARY KEY NOT NULL,
  cron         TEXT NOT NULL,
  timezone     TEXT NOT NULL DEFAULT 'UTC',
  task         TEXT NOT NULL,
  missed       TEXT NOT NULL DEFAULT 'skip' CHECK (missed IN ('skip', 'once', 'all')),
  max_catchup  INTEGER NOT NULL DEFAULT 100,
  paused       INTEGER NOT NULL DEFAULT 0,
  -- The next slot to fire (epoch ms); null while paused or when the expression has no future slot.
  next_run_at  INTEGER,
  last_run_at  INTEGER,
  last_task_id TEXT,
  fired        INTEGER NOT NULL DEFAULT 0,
  skipped      INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);
CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE next_run_at IS NOT NULL;
