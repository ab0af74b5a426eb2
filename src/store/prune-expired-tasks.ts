import { sql } from "drizzle-orm";
import type { TaskStatus } from "../db/schema";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { tasksInOrder, walkOrder, type PlacedRow, type WalkPlace } from "./tasks-in-order";
import { deletion } from "./transition";

export type FinishedStatus = Extract<TaskStatus, "completed" | "failed" | "cancelled">;

/** Where a walk of one status stopped: its next chunk starts past this (created_at, rowid). */
export type PruneCursor = WalkPlace;

/**
 * Retention: deletes up to `limit` tasks of one finished `status` that finished before `before`,
 * the oldest created first, with their timelines, counted as `retention|<status>|deleted`. One
 * range of tasks_type_status_idx per type (created before `before`, since a task finishes after
 * it is created), merged: a finished task carries no index entry for retention alone. Tasks
 * created before `before` that finished after it are read past on each call until they expire
 * too: as many as ran or waited longer than the retention period; a chunk starts `after` where
 * the previous one stopped, so one tick reads past them once, not once per chunk. A task that is
 * not finished is never in these ranges, so it can never be deleted here. Returns how many rows
 * went, and where the walk stopped.
 */
export async function pruneExpiredTasks(db: Db, status: FinishedStatus, before: number, limit: number, now: number, after?: PruneCursor): Promise<{ deleted: number; last: PruneCursor | undefined }> {
  const expired = tasksInOrder({ statuses: [status], where: [sql`created_at < ${before}`, sql`updated_at < ${before}`], direction: "oldest", after, limit });
  const statements = deletion({
    changes: sql`
      SELECT t.id, t.type, t.status AS from_status, 'deleted' AS to_status, t.attempts AS attempt, NULL AS message, t.created_at, t.locked_at
      FROM tasks AS t WHERE t.rowid IN (SELECT rowid FROM (${expired}))`,
    actor: "retention",
    now,
    returning: sql`RETURNING created_at, rowid`,
  });
  const [, deleted] = await sqlBatch<[unknown, PlacedRow]>(db, statements);
  const last = deleted.reduce<PlacedRow | undefined>((m, r) => (m === undefined || walkOrder(r, m) > 0 ? r : m), undefined);
  return { deleted: deleted.length, last: last && { at: last.created_at, rowid: last.rowid } };
}
