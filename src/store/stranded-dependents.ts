import { sql } from "drizzle-orm";
import type { Db } from "./db";
import { CHILD_SET, childChanges, FOLLOW_UP_RETURNING, type ChangedTask } from "./dependents";
import { COUNTER, counterUpsert } from "./metric-counters";
import { sqlBatch } from "./sql-batch";
import { tasksInOrder, type WalkPlace } from "./tasks-in-order";
import { transition } from "./transition";

/**
 * The backstop behind the dependency rounds: no task may wait (`created`, waiting_on > 0) on
 * parents that have all finished. The alarm walks the `created` tasks in (created_at, rowid) order, a
 * range of tasks_type_status_idx per type (no new index: a dependent waits in `created`, which few
 * other tasks do), in chunks, carrying a cursor over ticks; a waiting task whose parents no round has
 * left to visit and whose parents say it should have moved is moved exactly as a round would have
 * moved it, and counted (seedcore_dependents_rescued_total), since a round should have done it.
 */

/** `created` tasks one chunk looks at (one statement; a second batch only when one is stranded). */
export const STRANDED_SCAN_CHUNK = 1000;

/** Where the scan left off: the (created_at, rowid) of the last task it looked at. */
export type ScanCursor = WalkPlace;

export const SCAN_START: ScanCursor = { at: -1, rowid: 0 };

/** The scan's saved state: where it goes on, and not before when (epoch ms). */
export interface ScanState {
  cursor: ScanCursor;
  notBefore: number;
}

const CURSOR_NAME = "stranded_dependents";

export async function readScanState(db: Db): Promise<ScanState> {
  const [row] = await db.all<{ at: number; task_rowid: number; not_before: number }>(sql`SELECT at, task_rowid, not_before FROM maintenance_cursors WHERE name = ${CURSOR_NAME}`);
  return row ? { cursor: { at: row.at, rowid: row.task_rowid }, notBefore: row.not_before } : { cursor: SCAN_START, notBefore: 0 };
}

export async function saveScanState(db: Db, { cursor, notBefore }: ScanState): Promise<void> {
  await db.run(sql`
    INSERT INTO maintenance_cursors (name, at, task_rowid, not_before) VALUES (${CURSOR_NAME}, ${cursor.at}, ${cursor.rowid}, ${notBefore})
    ON CONFLICT (name) DO UPDATE SET at = excluded.at, task_rowid = excluded.task_rowid, not_before = excluded.not_before`);
}

export interface StrandedChunk {
  /** The tasks moved (queued, failed or cancelled), for their follow-ups. */
  rescued: ChangedTask[];
  /** Where the next chunk starts; null when this one reached the last `created` task. */
  next: ScanCursor | null;
}

/** Looks at the next STRANDED_SCAN_CHUNK `created` tasks after `after` and moves the stranded ones. */
export async function rescueStrandedChunk(db: Db, after: ScanCursor, now: number): Promise<StrandedChunk> {
  const [scan] = await db.all<{ scanned: number; at: number | null; rowid: number | null; stranded: string }>(sql`
    WITH w AS MATERIALIZED (
      SELECT id AS child_id, created_at, rowid AS task_rowid FROM (${tasksInOrder({ statuses: ["created"], direction: "oldest", after, limit: STRANDED_SCAN_CHUNK })}))
    SELECT (SELECT count(*) FROM w) AS scanned,
      (SELECT json_group_array(id) FROM (${childChanges(sql`SELECT child_id FROM w`, "stranded")})) AS stranded,
      last.created_at AS at, last.task_rowid AS rowid
    FROM (SELECT 1) LEFT JOIN (SELECT * FROM w ORDER BY created_at DESC, task_rowid DESC LIMIT 1) AS last`);
  const next = scan && scan.scanned >= STRANDED_SCAN_CHUNK && scan.at !== null && scan.rowid !== null ? { at: scan.at, rowid: scan.rowid } : null;
  if (!scan || scan.stranded === "[]") return { rescued: [], next };
  // Looked at again inside the transaction: a round may have moved some meanwhile.
  const changes = childChanges(sql`SELECT value AS child_id FROM json_each(${scan.stranded})`, "stranded");
  const [rollup, update] = transition({ changes, actor: "reaper", now, set: CHILD_SET, returning: sql`RETURNING ${FOLLOW_UP_RETURNING}` });
  const [, , rescued] = await sqlBatch<[unknown, unknown, ChangedTask]>(db, [rollup, counterUpsert(COUNTER.dependentsRescued, changes), update]);
  console.error(`dependency backstop: ${rescued.length} dependent(s) waited on finished parents; moved on (a round missed them)`, rescued.map((t) => t.id));
  return { rescued, next };
}
