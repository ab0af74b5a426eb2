import { sql } from "drizzle-orm";
import { dueCandidates, type TypeFilter } from "./claim-due-tasks";
import type { Db } from "./db";
import { WRITTEN_RETURNING, writtenWithoutRound, type RecordedOutcomes, type WrittenRow } from "./record-outcomes";
import { sqlBatch } from "./sql-batch";
import { CLAIMABLE } from "./status-sql";
import { transition } from "./transition";

/** The task a claim of one would take now (by the claim's own candidate query), if any. */
export async function nextDueTask(db: Db, now: number, types?: TypeFilter): Promise<string | null> {
  const rows = await db.all<{ id: string }>(dueCandidates({ now, maxTasks: 1, maxInputBytes: Number.MAX_SAFE_INTEGER, types }));
  return rows[0]?.id ?? null;
}

/**
 * A task whose own claim D1 refused (e.g. a value over its limit built from it) fails with D1's
 * error, so the tasks behind it can be claimed. The statement never builds the task's params.
 * Returns what was written (its dependents flagged for the follow-up rounds), or null when the
 * task is no longer waiting (another pass took or settled it).
 */
export async function failUnclaimable(db: Db, id: string, now: number, d1Error: string): Promise<RecordedOutcomes | null> {
  const error = `could not be claimed: ${d1Error}`;
  const statements = transition({
    changes: sql`
      SELECT id, type, status AS from_status, 'failed' AS to_status, attempts AS attempt, ${`failed permanently: ${error}`} AS message, created_at, locked_at
      FROM tasks WHERE id = ${id} AND +status IN ${CLAIMABLE}`,
    actor: "dispatcher",
    now,
    set: sql`error = ${error}, run_after = NULL, locked_by = NULL, lease_expires_at = NULL`,
    returning: WRITTEN_RETURNING,
  });
  const [, rows] = await sqlBatch<[unknown, WrittenRow]>(db, statements);
  return rows.length === 0 ? null : writtenWithoutRound(rows);
}
