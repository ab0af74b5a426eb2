import { and, asc, eq, gte, lte } from "drizzle-orm";
import { tasks, type TaskRow } from "../db/schema";
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
