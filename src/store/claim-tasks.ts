import { sql } from "drizzle-orm";
import type { TaskRow } from "../db/schema";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { fromRawRow, type RawTaskRow } from "./raw-row";

// `+status` keeps SQLite on the primary key for these id-keyed statements: with the status
// index it would scan every queued row (TOOLCHAIN: 3.6x slower at 200k rows).
const claimable = (now: number) => sql`+status IN ('queued', 'retry') AND (run_after IS NULL OR run_after <= ${now})`;

/**
 * Claims every claimable task among `ids` for one dispatcher pass: running, attempts + 1 (the
 * only place attempts grows), a fresh fencing token and a lease. Duplicates, cancelled,
 * finished and not-yet-due ids are simply not returned.
 */
export async function claimTasks(db: Db, ids: string[], token: string, now: number, leaseMs: number): Promise<TaskRow[]> {
  const idList = JSON.stringify(ids);
  const inIds = sql`id IN (SELECT value FROM json_each(${idList}))`;
  const [, claimed] = await sqlBatch<[unknown, RawTaskRow]>(db, [
    sql`
      INSERT INTO task_events (task_id, at, from_status, to_status, attempt, actor, message)
      SELECT id, ${now}, status, 'running', attempts + 1, 'dispatcher', 'claimed'
      FROM tasks WHERE ${inIds} AND ${claimable(now)}`,
    sql`
      UPDATE tasks SET status = 'running', attempts = attempts + 1, locked_by = ${token},
             locked_at = ${now}, lease_expires_at = ${now + leaseMs}, last_heartbeat = ${now},
             updated_at = ${now}
      WHERE ${inIds} AND ${claimable(now)}
      RETURNING *`,
  ]);
  return claimed.map(fromRawRow);
}

/** Ids among `ids` that are waiting for a future run_after (their message came early). */
export async function findDeferredTasks(db: Db, ids: string[], now: number): Promise<{ id: string; run_after: number }[]> {
  return db.all<{ id: string; run_after: number }>(sql`
    SELECT id, run_after FROM tasks
    WHERE id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))
      AND +status IN ('queued', 'retry') AND run_after > ${now}`);
}

/** Heartbeat: extends the lease of tasks this claim still holds. */
export async function renewLeases(db: Db, ids: string[], token: string, now: number, leaseMs: number): Promise<void> {
  await db.run(sql`
    UPDATE tasks SET lease_expires_at = ${now + leaseMs}, last_heartbeat = ${now}, updated_at = ${now}
    WHERE id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))
      AND +status = 'running' AND locked_by = ${token}`);
}

/**
 * Marks waiting tasks as looked after (only `updated_at`): the dispatcher re-sends their message
 * itself (open circuit breaker), so the sweeper need not send another. Returns the ids that are
 * still waiting (finished or cancelled ones need no message), in the order of `ids`.
 */
export async function touchWaitingTasks(db: Db, ids: string[], now: number): Promise<{ id: string; run_after: number | null }[]> {
  const rows = await db.all<{ id: string; run_after: number | null }>(sql`
    UPDATE tasks SET updated_at = ${now}
    WHERE id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))
      AND +status IN ('queued', 'retry')
    RETURNING id, run_after`);
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}
