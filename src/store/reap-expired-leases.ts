import { sql } from "drizzle-orm";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { dependentsRound, FOLLOW_UP_RETURNING, roundEffects, type ChangedTask, type TerminalEffects } from "./dependents";
import { transition } from "./transition";

/**
 * Every running task: a range of tasks_type_status_idx per type. There are at most as many as
 * leases held, so reading them all is what an index on lease expiry would save, and that index
 * would cost a row written at every claim.
 */
const runningTaskIds = sql`
  SELECT t.id FROM task_types AS ty CROSS JOIN tasks AS t INDEXED BY tasks_type_status_idx ON t.type = ty.type AND t.status = 'running'`;

/**
 * Reaper: `running` tasks whose lease ran out (their dispatcher died or hung) go back to `retry`,
 * due now, or to `failed` when their attempts are used up. At most `limit` per call, the oldest
 * leases first; the claim's fencing token makes a late
 * outcome from the old dispatcher a no-op. The dependents of tasks it fails follow in the same transaction.
 */
export async function reapExpiredLeases(db: Db, now: number, limit: number): Promise<{ reaped: ChangedTask[]; dependents: TerminalEffects }> {
  const exhausted = sql`attempts >= max_attempts`;
  const statements = transition({
    changes: sql`
      SELECT id, type, 'running' AS from_status, CASE WHEN ${exhausted} THEN 'failed' ELSE 'retry' END AS to_status,
             attempts AS attempt, max_attempts,
             'lease expired (dispatcher lost)' || CASE WHEN ${exhausted} THEN ', attempts exhausted' ELSE '' END AS message,
             created_at, locked_at
      FROM tasks WHERE id IN (${runningTaskIds}) AND lease_expires_at < ${now}
      ORDER BY lease_expires_at LIMIT ${limit}`,
    actor: "reaper",
    now,
    set: sql`error = 'lease expired after attempt ' || c.attempt || ' of ' || c.max_attempts,
             locked_by = NULL, lease_expires_at = NULL`,
    runAfter: sql`CASE WHEN c.to_status = 'failed' THEN NULL ELSE ${now} END`,
    returning: sql`RETURNING ${FOLLOW_UP_RETURNING}`,
  });
  const results = await sqlBatch<[unknown, ChangedTask, unknown, unknown, unknown]>(db, [...statements, ...dependentsRound("reaper", now)]);
  return { reaped: results[1], dependents: roundEffects(results) };
}
