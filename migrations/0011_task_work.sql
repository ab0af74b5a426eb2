-- Issue 21: what a task's own code leaves on its row while it runs (DESIGN §16).
-- progress:          the last ctx.progress() stored, JSON {current, total, message, at}.
-- heartbeat_details: the last ctx.heartbeat(details), read by the next attempt.
-- logs:              ctx.log entries, JSON [[at, level, message, data], ...], capped.
-- execution:         how the task ran (path, organ, replica, agent, p_fast, latency, plan),
--                    beside `result`, which is now exactly what the task's code returned.
-- None is indexed: writing them touches the row only.
ALTER TABLE tasks ADD COLUMN progress TEXT;
ALTER TABLE tasks ADD COLUMN heartbeat_details TEXT;
ALTER TABLE tasks ADD COLUMN logs TEXT;
ALTER TABLE tasks ADD COLUMN execution TEXT;

-- ctx.step(name, fn): a finished step's result, one row per step, so a task's steps are not
-- bounded by one row's 2 MB. WITHOUT ROWID: the primary key is the table, one row written a step.
CREATE TABLE task_steps (
  task_id TEXT NOT NULL,
  name TEXT NOT NULL,
  result TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (task_id, name)
) WITHOUT ROWID;

-- Steps go with their task (retention, purge). A task without steps costs one seek, no write.
CREATE TRIGGER task_steps_follow_task AFTER DELETE ON tasks
BEGIN
  DELETE FROM task_steps WHERE task_id = old.id;
END;
