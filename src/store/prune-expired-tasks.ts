import { sql } from "drizzle-orm";
import type { TaskStatus } from "../db/schema";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { deletion } from "./transition";

export type FinishedStatus = Extract<TaskStatus, "completed" | "failed" | "cancelled">;

/**
 * Retention: deletes up to `limit` tasks of one finished `status` that finished before `before`,
 * the longest finished first, with their timelines, counted as `retention|<status>|deleted`. A range
 * of `tasks_finished_idx`, whose predicate is repeated so SQLite may use the partial index; a
 * task that is not finished is never in that index, so it can never be deleted here. Returns how
 * many rows went. (Ties in `updated_at` could in principle be broken differently by the count and
 * the delete; every candidate has the same status, so the counts would still agree.)
 */
export async function pruneExpiredTasks(db: Db, status: FinishedStatus, before: number, limit: number, now: number): Promise<number> {
  const statements = deletion({
    changes: sql`
      SELECT id, type, status AS from_status, 'deleted' AS to_status, attempts AS attempt, NULL AS message, created_at, locked_at
      FROM tasks
      WHERE status IN ('completed', 'failed', 'cancelled') AND status = ${status} AND updated_at < ${before}
      ORDER BY updated_at LIMIT ${limit}`,
    actor: "retention",
    now,
    returning: sql`RETURNING id`,
  });
  const [, deleted] = await sqlBatch<[unknown, { id: string }]>(db, statements);
  return deleted.length;
}
