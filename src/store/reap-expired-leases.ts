import { sql } from "drizzle-orm";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { dependentsRound, FOLLOW_UP_RETURNING, roundEffects, type ChangedTask, type TerminalEffects } from "./dependents";
import { transition } from "./transition";

/**
 * Reaper: `running` tasks whose lease ran out (their dispatcher died or hung) go back to `retry`,
 * due now, or to `failed` when their attempts are used up. At most `limit` per call, the oldest
 * leases first (a range of the partial lease index); the claim's fencing token makes a late
 * outcome from the old dispatcher a no-op. The dependents of tasks it fails follow in the same transaction.
 */
export async function reapExpiredLeases(db: Db, now: number, limit: number): Promise<{ reaped: ChangedTask[]; dependents: TerminalEffects }> {
  const exhausted = sql`attempts >= max_attempts`;
  const statements = transition({
    changes: sql`
      SELECT id, 'running' AS from_status, CASE WHEN ${exhausted} THEN 'failed' ELSE 'retry' END AS to_status,
             attempts AS attempt, max_attempts,
             'lease expired (dispatcher lost)' || CASE WHEN ${exhausted} THEN ', attempts exhausted' ELSE '' END AS message,
             created_at, locked_at
      FROM tasks INDEXED BY tasks_lease_idx WHERE status = 'running' AND lease_expires_at < ${now}
      ORDER BY lease_expires_at LIMIT ${limit}`,
    actor: "reaper",
    now,
    set: sql`error = 'lease expired after attempt ' || c.attempt || ' of ' || c.max_attempts,
             run_after = CASE WHEN c.to_status = 'failed' THEN NULL ELSE ${now} END,
             locked_by = NULL, lease_expires_at = NULL`,
    returning: sql`RETURNING ${FOLLOW_UP_RETURNING}`,
  });
  const results = await sqlBatch<[unknown, ChangedTask, unknown, unknown, unknown]>(db, [...statements, ...dependentsRound("reaper", now)]);
  return { reaped: results[1], dependents: roundEffects(results) };
}
