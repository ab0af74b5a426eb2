import { sql } from "drizzle-orm";
import type { TaskRow } from "../db/schema";
import type { Db } from "./db";
import type { FlowState } from "./task-json";

const WAITING = new Set(["queued", "retry"]);

/**
 * Paused / waiting-on-key for the tasks of one response, from the flags the claim reads (a
 * task's type and key), so the answer agrees with what the claim does: one read of the types and
 * keys the waiting tasks name (a page holds at most a few hundred), none when no task waits.
 */
export async function flowStates(db: Db, rows: TaskRow[]): Promise<Map<string, FlowState>> {
  const waiting = rows.filter((r) => WAITING.has(r.status));
  const pausedTypes = new Set<string>();
  const keys = new Map<string, { paused: boolean; full: boolean }>();
  if (waiting.length > 0) {
    const types = JSON.stringify([...new Set(waiting.map((r) => r.type))]);
    const named = JSON.stringify([...new Set(waiting.flatMap((r) => (r.concurrencyKey === null ? [] : [r.concurrencyKey])))]);
    const found = await db.all<{ kind: "type" | "key"; name: string; paused: number; full: number }>(sql`
      SELECT 'type' AS kind, type AS name, paused, 0 AS full FROM task_types WHERE type IN (SELECT value FROM json_each(${types}))
      UNION ALL
      SELECT 'key', key, paused, running >= max_running FROM concurrency_keys WHERE key IN (SELECT value FROM json_each(${named}))`);
    for (const f of found) {
      if (f.kind === "key") keys.set(f.name, { paused: f.paused === 1, full: f.full === 1 });
      else if (f.paused === 1) pausedTypes.add(f.name);
    }
  }
  return new Map(
    rows.map((r) => {
      const isWaiting = WAITING.has(r.status);
      const key = r.concurrencyKey === null ? undefined : keys.get(r.concurrencyKey);
      const paused = isWaiting && (pausedTypes.has(r.type) || key?.paused === true);
      return [r.id, { paused, waiting_on_key: isWaiting && !paused && key?.full === true }];
    }),
  );
}
