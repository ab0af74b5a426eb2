-- The domain list index held an entry for every task, most of them with no domain at all. A
-- partial index over the tasks that have one still serves every `domain = ?` filter (SQLite
-- knows the comparison implies IS NOT NULL) and costs a domain-less task nothing to write
-- (bench/README.md: the index cost scenario).
DROP INDEX tasks_domain_created_idx;
CREATE INDEX tasks_domain_created_idx ON tasks (domain, created_at, id) WHERE domain IS NOT NULL;
