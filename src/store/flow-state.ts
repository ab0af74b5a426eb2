import { sql } from "drizzle-orm";
import type { TaskRow } from "../db/schema";
import type { Db } from "./db";
import type { FlowState } from "./task-json";

const WAITING = new Set(["queued", "retry"]);

/**
 * Paused / waiting-on-key for the tasks of one response: one read of the keys they name (a page
 * holds at most a few hundred), none when no waiting task has a key.
 */
export async function flowStates(db: Db, rows: TaskRow[]): Promise<Map<string, FlowState>> {
  const keys = [...new Set(rows.filter((r) => WAITING.has(r.status) && r.concurrencyKey !== null).map((r) => r.concurrencyKey as string))];
  const byKey = new Map<string, { paused: number; full: number }>();
  if (keys.length > 0) {
    const found = await db.all<{ key: string; paused: number; full: number }>(sql`
      SELECT key, paused, running >= max_running AS full FROM concurrency_keys WHERE key IN (SELECT value FROM json_each(${JSON.stringify(keys)}))`);
    for (const k of found) byKey.set(k.key, k);
  }
  return new Map(
    rows.map((r) => {
      const waiting = WAITING.has(r.status);
      const key = r.concurrencyKey === null ? undefined : byKey.get(r.concurrencyKey);
      const paused = waiting && (r.held === 1 || key?.paused === 1);
      return [r.id, { paused, waiting_on_key: waiting && !paused && key?.full === 1 }];
    }),
  );
}
