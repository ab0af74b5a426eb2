-- Issue 16 (DESIGN §15): task dependencies, completion webhooks and waiters.

-- Dependencies. A dependent waits in `created` with waiting_on > 0 (the parents not yet finished);
-- its parents are listed in depends_on (JSON array of ids, NULL when it has none) and as edges in
-- task_deps, which serve the other direction: a parent's children.
ALTER TABLE tasks ADD COLUMN depends_on TEXT;
ALTER TABLE tasks ADD COLUMN on_parent_failure TEXT CHECK (on_parent_failure IN ('fail', 'cancel', 'run'));
ALTER TABLE tasks ADD COLUMN waiting_on INTEGER NOT NULL DEFAULT 0;
-- 1 once any task depends on this one, so only such tasks are flagged when they finish.
ALTER TABLE tasks ADD COLUMN has_dependents INTEGER NOT NULL DEFAULT 0;
-- Non-NULL: this finished task's children still have to be looked at, those after this child id
-- ('' = from the first). Set by every terminal transition of a task with dependents; cleared as
-- the dependency rounds (store/dependents.ts) work through its edges in bounded chunks.
ALTER TABLE tasks ADD COLUMN release_cursor TEXT;

CREATE TABLE task_deps (
  parent_id TEXT NOT NULL,
  child_id  TEXT NOT NULL,
  PRIMARY KEY (parent_id, child_id)
) WITHOUT ROWID;
-- A task's parents for cleanup when it is deleted (retention, purge).
CREATE INDEX task_deps_child_idx ON task_deps (child_id);
CREATE INDEX tasks_release_idx ON tasks (updated_at, id) WHERE release_cursor IS NOT NULL;

-- Completion webhooks: set on a terminal transition of a task with a callback_url
-- ('pending'), then 'sent' once queued, 'delivered' or 'failed' when the webhook queue is done.
ALTER TABLE tasks ADD COLUMN callback_url TEXT;
ALTER TABLE tasks ADD COLUMN webhook_state TEXT CHECK (webhook_state IN ('pending', 'sent', 'delivered', 'failed'));
CREATE INDEX tasks_webhook_idx ON tasks (webhook_state, updated_at) WHERE webhook_state IS NOT NULL;

-- 1 once a client waits on the task (?wait=S): only such tasks notify their waiters when they finish.
ALTER TABLE tasks ADD COLUMN watched INTEGER NOT NULL DEFAULT 0;

-- Edges go with their tasks (retention and purge delete terminal tasks).
CREATE TRIGGER task_deps_cleanup AFTER DELETE ON tasks
BEGIN
  DELETE FROM task_deps WHERE parent_id = OLD.id;
  DELETE FROM task_deps WHERE child_id = OLD.id;
END;
