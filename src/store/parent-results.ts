import { sql } from "drizzle-orm";
import type { TaskStatus } from "../db/schema";
import { chunkJsonArray, D1_JSON_BUDGET_BYTES, D1_LIMITS, withMargin } from "../lib/platform-limits";
import type { Db } from "./db";

/** What a dependent's code sees of one parent, in ctx.task.parents (all null if the parent is gone). */
export interface ParentView {
  status: TaskStatus | null;
  result: unknown;
  error: string | null;
}

/** What of a claimed task decides its parents' read. */
export interface ClaimedDependent {
  depends_on: string[] | null;
  /** Includes its parents' result bytes, added when they released it (dependents.ts). */
  input_bytes: number;
}

/** The parents' rows one read may return (D1 answers at most 50 MB per query). */
export const PARENT_READ_BUDGET_BYTES = withMargin(D1_LIMITS.resultBytes);

const GONE: ParentView = { status: null, result: null, error: null };

/** Dependents in groups whose parents' results (counted in their input_bytes) fit one read's answer. */
function readGroups<T extends ClaimedDependent>(tasks: T[]): T[][] {
  const groups: T[][] = [];
  let bytes = 0;
  for (const task of tasks) {
    const last = groups.at(-1);
    if (last && bytes + task.input_bytes <= PARENT_READ_BUDGET_BYTES) {
      last.push(task);
      bytes += task.input_bytes;
    } else {
      groups.push([task]);
      bytes = task.input_bytes;
    }
  }
  return groups;
}

/** One row per parent: each value is one parent's own result, so no value is built past D1's limit. */
async function readParents(db: Db, ids: string[]): Promise<Map<string, ParentView>> {
  const parents = new Map<string, ParentView>();
  for (const chunk of chunkJsonArray(ids, D1_JSON_BUDGET_BYTES)) {
    const rows = await db.all<{ id: string; status: TaskStatus; result: string | null; error: string | null }>(sql`
      SELECT id, status, result, error FROM tasks WHERE id IN (SELECT value FROM json_each(${chunk.json}))`);
    for (const r of rows) parents.set(r.id, { status: r.status, result: r.result === null ? null : JSON.parse(r.result), error: r.error });
  }
  return parents;
}

/**
 * Claimed tasks with their `parents` (null for a task without): each parent's
 * status, result and error by id, read now (so always current). The claim returns only the
 * task's own params, because one value holding every parent's result can pass D1's 2,000,000-byte
 * limit and fail the claim, and with it every pass after (issue 20). Only a pass with dependents
 * pays: one read per PARENT_READ_BUDGET_BYTES of their parents' results (in practice one).
 */
export async function withParentResults<T extends ClaimedDependent>(db: Db, tasks: T[]): Promise<(T & { parents: Record<string, ParentView> | null })[]> {
  const dependents = tasks.filter((t) => t.depends_on !== null);
  const parentsOf = new Map<T, Record<string, ParentView>>();
  for (const group of readGroups(dependents)) {
    const parents = await readParents(db, [...new Set(group.flatMap((t) => t.depends_on ?? []))]);
    for (const t of group) parentsOf.set(t, Object.fromEntries((t.depends_on ?? []).map((id) => [id, parents.get(id) ?? GONE])));
  }
  return tasks.map((t) => ({ ...t, parents: parentsOf.get(t) ?? null }));
}
