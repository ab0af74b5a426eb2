import { and, desc, eq, sql, type SQL } from "drizzle-orm";
import { CLAIMABLE } from "./status-sql";
import { tasks, type TaskRow, type TaskStatus } from "../db/schema";
import type { TaskCursor } from "../lib/cursor";
import type { Db } from "./db";

export interface ListTasksQuery {
  status?: TaskStatus | undefined;
  type?: string | undefined;
  domain?: string | undefined;
  concurrencyKey?: string | undefined;
  /** Waiting tasks held back: by a pause, or by their key's limit. */
  flow?: "paused" | "waiting_on_key" | undefined;
  /** Rows strictly after this one in (created_at DESC, id DESC) order. */
  after?: TaskCursor | undefined;
  limit: number;
}

export interface TaskPage {
  rows: TaskRow[];
  /** The last row of the page when more rows follow, else null. */
  last: TaskRow | null;
}

/** Rows strictly after `cursor` in (created_at DESC, id DESC) order. */
export const olderThan = (cursor: TaskCursor): SQL => sql`(${tasks.createdAt}, ${tasks.id}) < (${cursor.createdAt}, ${cursor.id})`;

/**
 * From the flags the claim reads (as flow-state.ts does): through the types and keys tables, so
 * only the types and keys in that state are looked at.
 */
function flowFilter(flow: "paused" | "waiting_on_key"): SQL {
  const keysWhere = flow === "paused" ? sql`paused = 1` : sql`paused = 0 AND running >= max_running`;
  const byKey = sql`${tasks.concurrencyKey} IN (SELECT key FROM concurrency_keys WHERE ${keysWhere})`;
  const typePaused = sql`${tasks.type} IN (SELECT type FROM task_types WHERE paused = 1)`;
  const waiting = sql`${tasks.status} IN ${CLAIMABLE}`;
  return flow === "paused" ? sql`${waiting} AND (${typePaused} OR ${byKey})` : sql`${waiting} AND NOT ${typePaused} AND ${byKey}`;
}

/** One page of tasks, newest first, keyset-paginated on (created_at, id). */
export async function listTasks(db: Db, q: ListTasksQuery): Promise<TaskPage> {
  const where: SQL[] = [];
  if (q.status) where.push(eq(tasks.status, q.status));
  if (q.type) where.push(eq(tasks.type, q.type));
  if (q.domain) where.push(eq(tasks.domain, q.domain));
  if (q.concurrencyKey) where.push(eq(tasks.concurrencyKey, q.concurrencyKey));
  if (q.flow) where.push(flowFilter(q.flow));
  // A row-value comparison is one range of the (…, created_at, id) index; an OR of two terms is not.
  if (q.after) where.push(olderThan(q.after));
  // One extra row tells whether another page exists without a COUNT.
  const rows = await db
    .select()
    .from(tasks)
    .where(and(...where))
    .orderBy(desc(tasks.createdAt), desc(tasks.id))
    .limit(q.limit + 1);
  const more = rows.length > q.limit;
  const page = more ? rows.slice(0, q.limit) : rows;
  return { rows: page, last: more ? (page[page.length - 1] ?? null) : null };
}
