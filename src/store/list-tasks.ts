import { and, desc, eq, sql, type SQL } from "drizzle-orm";
import { CLAIMABLE } from "./status-sql";
import { CLAIMABLE_STATUSES, tasks, type TaskRow, type TaskStatus } from "../db/schema";
import { cursorPosition, pastPosition, tasksInOrder } from "./tasks-in-order";
import type { PageEnd, TaskCursor } from "../lib/cursor";
import type { Db } from "./db";

export interface ListTasksQuery {
  status?: TaskStatus | undefined;
  type?: string | undefined;
  domain?: string | undefined;
  concurrencyKey?: string | undefined;
  /** Waiting tasks held back: by a pause, or by their key's limit. */
  flow?: "paused" | "waiting_on_key" | undefined;
  /** Rows strictly after this one in (created_at DESC, rowid DESC) order. */
  after?: TaskCursor | undefined;
  limit: number;
}

export interface TaskPage {
  rows: TaskRow[];
  /** Where the next page starts (the page's last row) when more rows follow, else null. */
  next: PageEnd | null;
}

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

/**
 * One page of tasks, newest first, keyset-paginated on (created_at, rowid). By domain or key, one
 * range of that column's (…, created_at, id) partial index, whose entries end in the rowid;
 * otherwise the merged ranges of tasks_type_status_idx (tasks-in-order.ts), the flow filter
 * checked inside each.
 */
export async function listTasks(db: Db, q: ListTasksQuery): Promise<TaskPage> {
  // One extra row tells whether another page exists without a COUNT.
  const limit = q.limit + 1;
  const flow = q.flow ? [flowFilter(q.flow)] : [];
  const after = q.after && cursorPosition(q.after);
  let window: SQL;
  if (q.domain !== undefined || q.concurrencyKey !== undefined) {
    const where: SQL[] = [...flow];
    if (q.status) where.push(eq(tasks.status, q.status));
    if (q.type) where.push(eq(tasks.type, q.type));
    if (q.domain) where.push(eq(tasks.domain, q.domain));
    if (q.concurrencyKey) where.push(eq(tasks.concurrencyKey, q.concurrencyKey));
    // created_at bounds one range of the (…, created_at, id) index (an OR of two terms would not); ties sort by the rowid each entry ends in.
    if (after) where.push(pastPosition(after, "newest"));
    window = sql`SELECT rowid FROM tasks WHERE ${and(...where)} ORDER BY created_at DESC, rowid DESC LIMIT ${limit}`;
  } else {
    const statuses = q.status ? [q.status] : q.flow ? CLAIMABLE_STATUSES : undefined;
    window = sql`SELECT rowid FROM (${tasksInOrder({ statuses, type: q.type, where: flow, direction: "newest", after, limit })})`;
  }
  const rows = await db
    .select({ task: tasks, rowid: sql<number>`tasks.rowid` })
    .from(tasks)
    .where(sql`tasks.rowid IN (${window})`)
    .orderBy(desc(tasks.createdAt), sql`tasks.rowid DESC`);
  const more = rows.length > q.limit;
  const page = more ? rows.slice(0, q.limit) : rows;
  const last = more ? page[page.length - 1] : undefined;
  return { rows: page.map((r) => r.task), next: last ? { createdAt: last.task.createdAt, rowid: last.rowid } : null };
}
