import { sql, type SQL } from "drizzle-orm";
import { TERMINAL_STATUSES, type TaskStatus } from "../db/schema";
import type { PageEnd, TaskCursor } from "../lib/cursor";
import { CANCEL, CANCELLABLE, RERUN } from "./cancel-or-rerun";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { cursorPosition, literalLimit, pastPosition, tasksInOrder, walkOrder, type PlacedRow, type WalkPosition } from "./tasks-in-order";
import { deletion, transition } from "./transition";

export type BulkAction = "retry" | "cancel" | "purge";

/** The statuses each action may touch: retry starts failed or cancelled tasks again, purge deletes finished ones. */
export const BULK_STATUSES = {
  retry: ["failed", "cancelled"],
  cancel: CANCELLABLE,
  purge: TERMINAL_STATUSES,
} as const satisfies Record<BulkAction, readonly TaskStatus[]>;

export interface BulkFilter {
  status?: TaskStatus | undefined;
  type?: string | undefined;
  domain?: string | undefined;
  /** created_at < this (epoch ms). */
  createdBefore?: number | undefined;
  /** created_at >= this (epoch ms). */
  createdAfter?: number | undefined;
  /** A substring of the error, ASCII case-insensitive. */
  errorContains?: string | undefined;
}

export interface BulkRequest {
  action: BulkAction;
  filter: BulkFilter;
  /** Continue strictly after this task in (created_at DESC, rowid DESC) order. */
  after?: TaskCursor | undefined;
  limit: number;
}

export interface BulkResult {
  affected: number;
  /** Where the next call continues; null when every candidate has been looked at. */
  next: PageEnd | null;
}

/** A call looks at most this many candidates per task it may touch (and never more than MAX_BULK_SCAN). */
const SCAN_PER_TASK = 10;
export const MAX_BULK_SCAN = 10_000;

/**
 * The call's window: the next `scan` candidates after the cursor, newest first, as one walk of
 * indexes in keyset order whatever else the filter says (no sort of the matches, no scan beyond
 * the window). By domain, a range of its (domain, created_at, id) index; otherwise the merged
 * ranges of tasks_type_status_idx for the filter's type and status, or the statuses the action
 * may touch (tasks-in-order.ts).
 */
function window(action: BulkAction, f: BulkFilter, after: WalkPosition | undefined, scan: number): SQL {
  const terms: SQL[] = [];
  if (f.createdBefore !== undefined) terms.push(sql`created_at < ${f.createdBefore}`);
  if (f.createdAfter !== undefined) terms.push(sql`created_at >= ${f.createdAfter}`);
  if (f.domain !== undefined && f.status === undefined && f.type === undefined) {
    terms.push(sql`domain = ${f.domain}`);
    if (after) terms.push(pastPosition(after, "newest"));
    return sql`SELECT id, created_at, rowid FROM tasks WHERE ${sql.join(terms, sql` AND `)} ORDER BY created_at DESC, rowid DESC LIMIT ${scan}`;
  }
  return tasksInOrder({
    statuses: f.status === undefined ? BULK_STATUSES[action] : [f.status],
    type: f.type,
    where: terms,
    direction: "newest",
    after,
    limit: scan,
  });
}

/** What the walked index cannot check, tested on each candidate row (`t`). */
function residual(action: BulkAction, f: BulkFilter): SQL[] {
  const terms = [sql`t.status IN (${sql.join(BULK_STATUSES[action].map((s) => sql`${s}`), sql`, `)})`];
  if (f.domain !== undefined) terms.push(sql`t.domain = ${f.domain}`);
  // instr, not LIKE: the user's text is never a pattern.
  if (f.errorContains !== undefined) terms.push(sql`instr(lower(t.error), lower(${f.errorContains})) > 0`);
  return terms;
}

/**
 * One bounded step of a bulk operation, in one D1 batch (one transaction): the window is the
 * next `scan` candidates of the walked index after the cursor, newest first; of those, the first
 * `limit` that match the whole filter are retried, cancelled or deleted, each through a counted
 * transition (a timeline entry for retry and cancel; `api|<status>|deleted` for purge). `next` is
 * the last task touched when `limit` was reached, else the end of a full window, else null.
 */
export async function bulkStep(db: Db, req: BulkRequest, now: number): Promise<BulkResult> {
  const scan = Math.min(req.limit * SCAN_PER_TASK, MAX_BULK_SCAN);
  const candidates = window(req.action, req.filter, req.after && cursorPosition(req.after), scan);
  const windowEnd = sql`SELECT created_at, rowid FROM (${candidates}) ORDER BY created_at DESC, rowid DESC LIMIT 1 OFFSET ${scan - 1}`;
  const to = req.action === "retry" ? "queued" : req.action === "cancel" ? "cancelled" : "deleted";
  const message = req.action === "retry" ? "bulk retry" : req.action === "cancel" ? "cancelled by bulk request" : null;
  const changes = sql`
    SELECT t.id, t.type, t.status AS from_status, ${to} AS to_status, t.attempts AS attempt, ${message} AS message, t.created_at, t.locked_at
    FROM (${candidates}) AS w CROSS JOIN tasks AS t ON t.rowid = w.rowid
    WHERE ${sql.join(residual(req.action, req.filter), sql` AND `)}
    ORDER BY t.created_at DESC, t.rowid DESC LIMIT ${literalLimit(req.limit)}`;
  const [rollup, write] =
    req.action === "purge"
      ? deletion({ changes, actor: "api", now, returning: sql`RETURNING created_at, rowid` })
      : transition({
          changes,
          actor: "api",
          now,
          ...(req.action === "retry" ? RERUN : CANCEL),
          returning: sql`RETURNING tasks.created_at AS created_at, tasks.rowid AS rowid`,
        });
  // The window's end is read first: the write moves rows out of a status the walk may follow.
  const [ends, , touched] = await sqlBatch<[PlacedRow, unknown, PlacedRow]>(db, [windowEnd, rollup, write]);
  const end = ends[0];
  const oldest = touched.reduce<PlacedRow | null>((min, r) => (min === null || walkOrder(r, min) < 0 ? r : min), null);
  const last = touched.length === req.limit ? oldest : end;
  const next = last ? { createdAt: last.created_at, rowid: last.rowid } : null;
  return { affected: touched.length, next };
}
