-- Issue 23: fewer bytes per finished task (docs/SCALING.md, "What a finished task stores").
--
-- 1. Timeline entries are written coded (src/store/timeline-codec.ts): [ms since created_at,
--    from code, to code, attempt, actor code, message code or text], ≈ 15 B an entry where the
--    spelled-out form took ≈ 60. Rows already written keep their spelled-out entries; both read
--    back the same, so nothing is rewritten here. This view reads either form, spelled out, for
--    operators (`wrangler d1 execute DB --command "SELECT * FROM task_timeline WHERE task_id = '…'"`);
--    its code tables are the codec's, append only.
CREATE VIEW task_timeline AS
SELECT task_id, seq,
       CASE WHEN coded THEN created_at + (v ->> 0) ELSE v ->> 0 END AS at,
       CASE WHEN coded THEN '["created","queued","running","completed","failed","retry","cancelled"]' ->> (v ->> 1) ELSE v ->> 1 END AS from_status,
       CASE WHEN coded THEN '["created","queued","running","completed","failed","retry","cancelled"]' ->> (v ->> 2) ELSE v ->> 2 END AS to_status,
       v ->> 3 AS attempt,
       CASE WHEN coded THEN '["api","dispatcher","reaper","dlq","webhook"]' ->> (v ->> 4) ELSE v ->> 4 END AS actor,
       CASE WHEN json_type(v, '$[5]') = 'integer'
            THEN '["submitted","claimed","completed","parents finished","lease expired (dispatcher lost)"]' ->> (v ->> 5)
            ELSE v ->> 5 END AS message
FROM (SELECT t.id AS task_id, t.created_at, e.key AS seq, e.value AS v, json_type(e.value, '$[2]') = 'integer' AS coded
      FROM tasks AS t, json_each(t.events) AS e);

-- 2. Retention walks tasks_type_status_idx (one range per type and finished status, oldest
--    created first) instead of an index of its own: a task's outcome no longer writes an entry
--    here (one row written and ≈ 28 B stored per task).
DROP INDEX tasks_finished_idx;
