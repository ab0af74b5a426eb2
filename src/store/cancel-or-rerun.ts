import { sql, type SQL } from "drizzle-orm";
import type { TaskRow, TaskStatus } from "../db/schema";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { dependentsRound, roundEffects, type TerminalEffects } from "./dependents";
import { statusSet } from "./status-sql";
import { transition, type TransitionWrites } from "./transition";
import { fromRawRow, RETURNING_TASK, type RawTaskRow } from "./raw-row";

export const CANCELLABLE = ["created", "queued", "retry", "running"] as const satisfies readonly TaskStatus[];
export const RERUNNABLE = ["created", "failed", "retry", "cancelled"] as const satisfies readonly TaskStatus[];
/** Run again from these, a task starts a fresh series of attempts. */
const FRESH_START: readonly TaskStatus[] = ["failed", "cancelled"];

/** A cancelled task holds no lock: a running task's late outcome no longer matches `locked_by`. */
export const CANCEL: TransitionWrites = { set: sql`locked_by = NULL, lease_expires_at = NULL`, runAfter: sql`NULL` };
/**
 * Due now; a failed or cancelled task starts a fresh series of attempts, a created or retrying one
 * keeps its count. Running again, it is no longer a finished parent: its dependents wait for its next end.
 */
export const RERUN: TransitionWrites = {
  set: sql`attempts = CASE WHEN c.from_status IN ${statusSet(FRESH_START)} THEN 0 ELSE attempts END, error = NULL, release_cursor = NULL, waiting_on = 0`,
  runAfter: sql`NULL`,
};

export interface ApiTransitionResult {
  /** The task after the change; null when its status forbade it. */
  row: TaskRow | null;
  /** Its dependents changed in the same transaction (a cancel fails or cancels them by policy). */
  dependents: TerminalEffects;
}

/** One task, by id, from one of `from` to `to`, by the API, with a dependency round. `guard` narrows which rows may change. */
async function apiTransition(db: Db, id: string, from: readonly TaskStatus[], to: TaskStatus, message: string, writes: TransitionWrites, now: number, guard = sql``): Promise<ApiTransitionResult> {
  const statements = transition({
    changes: sql`
      SELECT id, type, status AS from_status, ${to} AS to_status, attempts AS attempt, ${message} AS message, created_at, locked_at
      FROM tasks WHERE id = ${id} AND status IN (SELECT value FROM json_each(${JSON.stringify(from)})) ${guard}`,
    actor: "api",
    now,
    ...writes,
    returning: RETURNING_TASK,
  });
  const results = await sqlBatch<[unknown, RawTaskRow, unknown, unknown, unknown]>(db, [...statements, ...dependentsRound("api", now)]);
  const row = results[1][0];
  return { row: row ? fromRawRow(row) : null, dependents: roundEffects(results) };
}

/**
 * Cancels a task that has not finished. A running task's lock is cleared, so its dispatcher's
 * late outcome no longer matches `locked_by` and is discarded. Null when the status forbids it.
 */
export function cancelTask(db: Db, id: string, now: number): Promise<ApiTransitionResult> {
  return apiTransition(db, id, CANCELLABLE, "cancelled", "cancelled by request", CANCEL, now);
}

/**
 * Queues a task again, due now. A failed or cancelled task starts a fresh series of attempts;
 * a created or retrying one keeps its count. A dependent still waiting on parents is not run
 * (its parents release it). Null when the status forbids it.
 */
export async function rerunTask(db: Db, id: string, now: number): Promise<TaskRow | null> {
  const { row } = await apiTransition(db, id, RERUNNABLE, "queued", "run requested", RERUN, now, sql`AND NOT (status = 'created' AND waiting_on > 0)`);
  return row;
}
