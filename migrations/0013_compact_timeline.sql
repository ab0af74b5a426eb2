-- Issue 23: fewer bytes per finished task (docs/SCALING.md, "What each index and trigger costs").
--
-- 1. Timelines are stored coded (src/store/timeline-codec.ts). The submission entry is not stored
--    (it is created_at, and the status the task was submitted in is the first stored entry's
--    `from`, or the task's status while it has none); every other entry is [ms since created_at,
--    from code, to code, attempt, actor code, message code or text], ≈ 15 B where the
--    spelled-out form took ≈ 60. Rows already written keep their spelled-out entries, submission
--    included; both read back the same, so nothing is rewritten here. This view reads either
--    form, spelled out, for operators (`wrangler d1 execute DB --command "SELECT * FROM
--    task_timeline WHERE task_id = '…'"`); its code tables are the codec's, append only.
CREATE VIEW task_timeline AS
SELECT id AS task_id, -1 AS seq, created_at AS at, NULL AS from_status,
       coalesce('["created","queued","running","completed","failed","retry","cancelled"]' ->> (events ->> '$[0][1]'), status) AS to_status,
       0 AS attempt, 'api' AS actor, 'submitted' AS message
FROM tasks WHERE json_type(events, '$[0][1]') IS NOT 'null'
UNION ALL
SELECT task_id, seq,
       CASE WHEN coded THEN created_at + (v ->> 0) ELSE v ->> 0 END,
       CASE WHEN coded THEN '["created","queued","running","completed","failed","retry","cancelled"]' ->> (v ->> 1) ELSE v ->> 1 END,
       CASE WHEN coded THEN '["created","queued","running","completed","failed","retry","cancelled"]' ->> (v ->> 2) ELSE v ->> 2 END,
       v ->> 3,
       CASE WHEN coded THEN '["api","dispatcher","reaper","dlq","webhook"]' ->> (v ->> 4) ELSE v ->> 4 END,
       CASE WHEN json_type(v, '$[5]') = 'integer'
            THEN '["claimed","completed","parents finished","lease expired (dispatcher lost)"]' ->> (v ->> 5)
            ELSE v ->> 5 END
FROM (SELECT t.id AS task_id, t.created_at, e.key AS seq, e.value AS v, json_type(e.value, '$[2]') = 'integer' AS coded
      FROM tasks AS t, json_each(t.events) AS e);

-- 2. tasks_type_status_idx without `id`: lists still page in (created_at, id) order, sorting the
--    tasks of one millisecond by id (at most a few batches of 100), and each entry is ≈ 37 B
--    smaller.
DROP INDEX tasks_type_status_idx;
CREATE INDEX tasks_type_status_idx ON tasks (type, status, created_at);

-- 3. Retention walks tasks_type_status_idx (one range per type and finished status, oldest
--    created first) instead of an index of its own: a task's outcome no longer writes an entry
--    here (one row written and ≈ 28 B stored per task).
DROP INDEX tasks_finished_idx;
