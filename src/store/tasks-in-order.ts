import { sql, type SQL } from "drizzle-orm";
import { TASK_STATUSES, type TaskStatus } from "../db/schema";
import type { TaskCursor } from "../lib/cursor";
import { lanesOf } from "./claim-lane";

/**
 * A place in a walk: created_at, then the rowid, so tasks of one millisecond (a batch shares
 * one) come in submission order. The rowid is in every index entry, so the walk orders ties
 * without reading a row. It may be SQL (a legacy cursor's id, looked up).
 */
export interface WalkPosition {
  at: number;
  rowid: number | SQL;
}

/** A place a walk stopped at, as the rows it read give it (retention's and the backstop's cursors). */
export type WalkPlace = { at: number; rowid: number };

/** A row a walk returned, by its place in the walk. */
export type PlacedRow = { created_at: number; rowid: number };

/** Walk order (oldest first) of two rows: negative when `a` comes first. */
export const walkOrder = (a: PlacedRow, b: PlacedRow): number => a.created_at - b.created_at || a.rowid - b.rowid;

/** Past every rowid: a legacy cursor whose row is gone repeats its millisecond rather than skip part of it. */
const AFTER_EVERY_ROWID = Number.MAX_SAFE_INTEGER;

/** Where an API cursor points; one issued before 0014 names its row by id. */
export function cursorPosition(c: TaskCursor): WalkPosition {
  return "rowid" in c ? { at: c.createdAt, rowid: c.rowid } : { at: c.createdAt, rowid: sql`coalesce((SELECT rowid FROM tasks WHERE id = ${c.id}), ${AFTER_EVERY_ROWID})` };
}

/** The row-value test "strictly past `p`" in a walk's direction, on the unqualified columns of tasks. */
export function pastPosition(p: WalkPosition, direction: "newest" | "oldest"): SQL {
  return direction === "newest" ? sql`(created_at, rowid) < (${p.at}, ${p.rowid})` : sql`(created_at, rowid) > (${p.at}, ${p.rowid})`;
}

/** Which tasks a walk in creation order visits. */
export interface OrderedWalk {
  /** Default: every status. */
  statuses?: readonly TaskStatus[] | undefined;
  /** Default: every type. */
  type?: string | undefined;
  /** Terms on the task row (unqualified columns or `tasks.<column>`), checked inside each range. */
  where?: SQL[];
  /** Newest first (lists, bulk actions) or oldest first (the dependency backstop). */
  direction: "newest" | "oldest";
  /** Rows strictly past this place in the walk's direction. */
  after?: WalkPosition | undefined;
  limit: number;
}

/**
 * A LIMIT written as a literal: SQLite sizes a subquery by a constant LIMIT, not by a bound one.
 * Without it, a walk over every type and status looks large enough that an UPDATE … FROM the walk
 * scans all of tasks instead of seeking each row by id.
 */
export function literalLimit(n: number): SQL {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`a LIMIT must be a whole number, not ${n}`);
  return sql.raw(String(n));
}

/**
 * The ids, created_at and rowids of the first `limit` tasks of a walk in (created_at, rowid) order. One
 * index, tasks_type_status_idx, serves every combination of type and status: the walk is one
 * range of it per type and status (two for `queued`, one per lane: claim-lane.ts), each cut at `limit`, merged. So a task carries one index entry
 * for lists where it carried three (by creation, by status, by type), and a transition moves one.
 * The types come from task_types, which has a row for every type ever submitted.
 */
export function tasksInOrder(w: OrderedWalk): SQL {
  const ranges = JSON.stringify((w.statuses ?? TASK_STATUSES).flatMap((s) => lanesOf(s).map((lane) => [s, lane])));
  const desc = w.direction === "newest";
  const order = desc ? sql`created_at DESC, rowid DESC` : sql`created_at, rowid`;
  const terms = [...(w.where ?? [])];
  if (w.after) terms.push(pastPosition(w.after, w.direction));
  const types = w.type === undefined ? sql`SELECT type FROM task_types` : sql`SELECT type FROM task_types WHERE type = ${w.type}`;
  return sql`
    SELECT t.id, t.created_at, t.rowid AS rowid FROM (${types}) AS ty
    CROSS JOIN (SELECT value ->> 0 AS status, value ->> 1 AS lane FROM json_each(${ranges})) AS st
    CROSS JOIN tasks AS t ON t.rowid IN (
      SELECT rowid FROM tasks INDEXED BY tasks_type_status_idx
      WHERE type = ty.type AND status = st.status AND lane = st.lane${terms.length ? sql` AND ${sql.join(terms, sql` AND `)}` : sql``}
      ORDER BY ${order} LIMIT ${w.limit})
    ORDER BY ${desc ? sql`t.created_at DESC, t.rowid DESC` : sql`t.created_at, t.rowid`} LIMIT ${literalLimit(w.limit)}`;
}
