-- Issue 20: a type's pause is read by the claim, as a key's already was, so pausing or resuming a
-- type writes one row whatever its backlog (it was one UPDATE over every waiting task: ≈ 3 rows
-- written per task, past D1's 30 s per query with millions waiting) and a task's hold can never
-- disagree with its type's flag (tasks waiting in `created` kept theirs after a resume).

DROP TRIGGER tasks_hold_paused_type;
DROP INDEX tasks_held_idx;

-- The claim takes, per type that is not paused, a short range of this index (type first, so a
-- paused type's backlog is never read) and merges the ranges by order key…
DROP INDEX tasks_due_idx;
CREATE INDEX tasks_due_idx ON tasks (type, sort_key, id)
  WHERE status IN ('queued', 'retry') AND concurrency_key IS NULL;
-- …and, per key it serves and type that is not paused, a range of this one.
DROP INDEX tasks_key_due_idx;
CREATE INDEX tasks_key_due_idx ON tasks (concurrency_key, type, sort_key, id)
  WHERE status IN ('queued', 'retry') AND concurrency_key IS NOT NULL;

-- The column `held` stays, unread and unwritten: dropping it would rewrite every row of tasks in
-- one statement, the unbounded write this migration takes away.
