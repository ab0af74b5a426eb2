import { sql, type SQL } from "drizzle-orm";
import type { TaskRow, TaskStatus } from "../db/schema";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { fromRawRow, type RawTaskRow } from "./raw-row";

export const CANCELLABLE: readonly TaskStatus[] = ["created", "queued", "retry", "running"];
export const RERUNNABLE: readonly TaskStatus[] = ["created", "failed", "retry", "cancelled"];

async function transition(db: Db, id: string, from: readonly TaskStatus[], set: SQL, toStatus: TaskStatus, message: string, now: number): Promise<TaskRow | null> {
  const where = sql`id = ${id} AND status IN (SELECT value FROM json_each(${JSON.stringify(from)}))`;
  const [, rows] = await sqlBatch<[unknown, RawTaskRow]>(db, [
    sql`
      INSERT INTO task_events (task_id, at, from_status, to_status, attempt, actor, message)
      SELECT id, ${now}, status, ${toStatus}, attempts, 'api', ${message} FROM tasks WHERE ${where}`,
    sql`UPDATE tasks SET ${set}, updated_at = ${now} WHERE ${where} RETURNING *`,
  ]);
  const row = rows[0];
  return row ? fromRawRow(row) : null;
}

/**
 * Cancels a task that has not finished. A running task's lock is cleared, so its dispatcher's
 * late outcome no longer matches `locked_by` and is discarded. Null when the status forbids it.
 */
export function cancelTask(db: Db, id: string, now: number): Promise<TaskRow | null> {
  return transition(
    db,
    id,
    CANCELLABLE,
    sql`status = 'cancelled', run_after = NULL, locked_by = NULL, locked_at = NULL, lease_expires_at = NULL`,
    "cancelled",
    "cancelled by request",
    now,
  );
}

/**
 * Queues a task again, due now. A failed or cancelled task starts a fresh series of attempts;
 * a created or retrying one keeps its count. Null when the status forbids it.
 */
export function rerunTask(db: Db, id: string, now: number): Promise<TaskRow | null> {
  return transition(
    db,
    id,
    RERUNNABLE,
    sql`attempts = CASE WHEN status IN ('failed', 'cancelled') THEN 0 ELSE attempts END,
        status = 'queued', run_after = NULL, error = NULL`,
    "queued",
    "run requested",
    now,
  );
}
