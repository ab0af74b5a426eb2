import { sql, type SQL } from "drizzle-orm";
import type { TaskRow, TaskStatus } from "../db/schema";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { transition } from "./transition";
import { fromRawRow, RETURNING_TASK, type RawTaskRow } from "./raw-row";

export const CANCELLABLE = ["created", "queued", "retry", "running"] as const satisfies readonly TaskStatus[];
export const RERUNNABLE = ["created", "failed", "retry", "cancelled"] as const satisfies readonly TaskStatus[];

/** A cancelled task holds no lock: a running task's late outcome no longer matches `locked_by`. */
export const CANCEL_SET = sql`run_after = NULL, locked_by = NULL, lease_expires_at = NULL`;
/** Due now; a failed or cancelled task starts a fresh series of attempts, a created or retrying one keeps its count. */
export const RERUN_SET = sql`attempts = CASE WHEN c.from_status IN ('failed', 'cancelled') THEN 0 ELSE attempts END, run_after = NULL, error = NULL`;

/** One task, by id, from one of `from` to `to`, by the API. */
async function apiTransition(db: Db, id: string, from: readonly TaskStatus[], to: TaskStatus, message: string, set: SQL, now: number): Promise<TaskRow | null> {
  const statements = transition({
    changes: sql`
      SELECT id, status AS from_status, ${to} AS to_status, attempts AS attempt, ${message} AS message, created_at, locked_at
      FROM tasks WHERE id = ${id} AND status IN (SELECT value FROM json_each(${JSON.stringify(from)}))`,
    actor: "api",
    now,
    set,
    returning: RETURNING_TASK,
  });
  const [, rows] = await sqlBatch<[unknown, RawTaskRow]>(db, statements);
  const row = rows[0];
  return row ? fromRawRow(row) : null;
}

/**
 * Cancels a task that has not finished. A running task's lock is cleared, so its dispatcher's
 * late outcome no longer matches `locked_by` and is discarded. Null when the status forbids it.
 */
export function cancelTask(db: Db, id: string, now: number): Promise<TaskRow | null> {
  return apiTransition(db, id, CANCELLABLE, "cancelled", "cancelled by request", CANCEL_SET, now);
}

/**
 * Queues a task again, due now. A failed or cancelled task starts a fresh series of attempts;
 * a created or retrying one keeps its count. Null when the status forbids it.
 */
export function rerunTask(db: Db, id: string, now: number): Promise<TaskRow | null> {
  return apiTransition(db, id, RERUNNABLE, "queued", "run requested", RERUN_SET, now);
}
