import { sql } from "drizzle-orm";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";

/**
 * Reaper: `running` tasks whose lease ran out (their dispatcher died or hung) go back to `retry`,
 * due now, or to `failed` when their attempts are used up. At most `limit` per call; the claim's
 * fencing token makes a late outcome from the old dispatcher a no-op.
 */
export async function reapExpiredLeases(db: Db, now: number, limit: number): Promise<{ id: string; status: string }[]> {
  const expired = sql`id IN (SELECT id FROM tasks WHERE status = 'running' AND lease_expires_at < ${now}
                             ORDER BY lease_expires_at LIMIT ${limit})`;
  const nextStatus = sql`CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'retry' END`;
  const [, reaped] = await sqlBatch<[unknown, { id: string; status: string }]>(db, [
    sql`
      INSERT INTO task_events (task_id, at, from_status, to_status, attempt, actor, message)
      SELECT id, ${now}, status, ${nextStatus}, attempts, 'reaper',
             'lease expired (dispatcher lost)' || CASE WHEN attempts >= max_attempts THEN ', attempts exhausted' ELSE '' END
      FROM tasks WHERE ${expired}`,
    sql`
      UPDATE tasks SET status = ${nextStatus},
             error = 'lease expired after attempt ' || attempts || ' of ' || max_attempts,
             run_after = CASE WHEN attempts >= max_attempts THEN NULL ELSE ${now} END,
             locked_by = NULL, locked_at = NULL, lease_expires_at = NULL, updated_at = ${now}
      WHERE ${expired}
      RETURNING id, status`,
  ]);
  return reaped;
}
