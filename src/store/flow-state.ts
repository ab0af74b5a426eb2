import { sql, type SQL } from "drizzle-orm";
import type { TaskRow } from "../db/schema";
import type { Db } from "./db";
import type { FlowState } from "./task-json";

const WAITING = new Set(["queued", "retry"]);

/** One row per type or key a response names: its flag, and whether a key is at its limit. */
export interface FlowFlag {
  kind: "type" | "key";
  name: string;
  paused: number;
  full: number;
}

/** The flags the claim reads for these types and keys (one statement; a submission adds it to its own batch). */
export function flowFlagsQuery(types: readonly string[], keys: readonly string[]): SQL {
  return sql`
    SELECT 'type' AS kind, type AS name, paused, 0 AS full FROM task_types WHERE type IN (SELECT value FROM json_each(${JSON.stringify([...new Set(types)])}))
    UNION ALL
    SELECT 'key', key, paused, running >= max_running FROM concurrency_keys WHERE key IN (SELECT value FROM json_each(${JSON.stringify([...new Set(keys)])}))`;
}

/** Paused / waiting-on-key of each row, from the flags of its type and key. */
export function flowOf(rows: readonly TaskRow[], flags: readonly FlowFlag[]): Map<string, FlowState> {
  const pausedTypes = new Set(flags.filter((f) => f.kind === "type" && f.paused === 1).map((f) => f.name));
  const keys = new Map(flags.filter((f) => f.kind === "key").map((f) => [f.name, { paused: f.paused === 1, full: f.full === 1 }]));
  return new Map(
    rows.map((r) => {
      const isWaiting = WAITING.has(r.status);
      const key = r.concurrencyKey === null ? undefined : keys.get(r.concurrencyKey);
      const paused = isWaiting && (pausedTypes.has(r.type) || key?.paused === true);
      return [r.id, { paused, waiting_on_key: isWaiting && !paused && key?.full === true }];
    }),
  );
}

/**
 * Paused / waiting-on-key for the tasks of one response, from the flags the claim reads (a
 * task's type and key), so the answer agrees with what the claim does: one read of the types and
 * keys the waiting tasks name (a page holds at most a few hundred), none when no task waits.
 */
export async function flowStates(db: Db, rows: TaskRow[]): Promise<Map<string, FlowState>> {
  const waiting = rows.filter((r) => WAITING.has(r.status));
  if (waiting.length === 0) return flowOf(rows, []);
  const keys = waiting.flatMap((r) => (r.concurrencyKey === null ? [] : [r.concurrencyKey]));
  return flowOf(rows, await db.all<FlowFlag>(flowFlagsQuery(waiting.map((r) => r.type), keys)));
}
