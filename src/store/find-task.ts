import { and, asc, eq, gte, lte, sql } from "drizzle-orm";
import { tasks, type TaskRow, type TaskStatus } from "../db/schema";
import type { TaskRef } from "../lib/short-id";
import type { Db } from "./db";

export type FindTaskResult =
  | { kind: "found"; row: TaskRow }
  | { kind: "missing" }
  | { kind: "ambiguous"; candidates: string[] };

/** Looks a task up by full id or unique prefix (prefixes hold only [0-9a-f-], see short-id.ts). */
export async function findTask(db: Db, ref: TaskRef): Promise<FindTaskResult> {
  if (ref.kind === "full") {
    const row = await db.query.tasks.findFirst({ where: eq(tasks.id, ref.id) });
    return row ? { kind: "found", row } : { kind: "missing" };
  }
  // A range on the primary key rather than LIKE: it uses the index and has no wildcards.
  // 'z' sorts after every hex digit and '-', so [prefix, prefix+'z'] holds exactly the matches.
  const rows = await db
    .select()
    .from(tasks)
    .where(and(gte(tasks.id, ref.prefix), lte(tasks.id, `${ref.prefix}z`)))
    .orderBy(asc(tasks.id))
    .limit(5);
  if (rows.length === 0) return { kind: "missing" };
  if (rows.length > 1) return { kind: "ambiguous", candidates: rows.map((r) => r.id) };
  return { kind: "found", row: rows[0] as TaskRow };
}

/** A task's status by full id, null when there is none (one primary-key read). */
export async function taskStatusOf(db: Db, id: string): Promise<TaskStatus | null> {
  const row = await db.select({ status: tasks.status }).from(tasks).where(eq(tasks.id, id)).get();
  return row?.status ?? null;
}

/**
 * Marks a task as waited on, so its terminal write notifies the waiters; the row after. One row
 * written: `updated_at` is set here, or the touch trigger would write the row a second time.
 */
export async function watchTask(db: Db, id: string, now: number): Promise<TaskRow | null> {
  const rows = await db.update(tasks).set({ watched: 1, updatedAt: now }).where(eq(tasks.id, id)).returning();
  return rows[0] ?? null;
}

/** Which of these ids name no task (one primary-key probe each). */
export async function missingTaskIds(db: Db, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db.all<{ id: string }>(sql`
    SELECT j.value AS id FROM json_each(${JSON.stringify(ids)}) AS j WHERE NOT EXISTS (SELECT 1 FROM tasks AS t WHERE t.id = j.value)`);
  return rows.map((r) => r.id);
}
