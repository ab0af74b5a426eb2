import { sql } from "drizzle-orm";
import type { LogLevel } from "../tasks/define-task";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";

/**
 * What a running task's own code writes through its context (DESIGN §16): progress, heartbeats,
 * finished steps and log lines. Every write is fenced like an outcome: only while the task is
 * `running` under the claim's token, so a cancelled or re-leased task's late writes change nothing.
 * Each sets updated_at itself (tasks_touch_updated_at would otherwise write the row a second time).
 */

/** The row this claim still holds. */
const held = (id: string, token: string) => sql`id = ${id} AND +status = 'running' AND locked_by = ${token}`;

/** Stores the progress JSON; false when the claim no longer holds the task. */
export async function saveProgress(db: Db, id: string, token: string, progressJson: string, now: number): Promise<boolean> {
  const rows = await db.all<{ id: string }>(sql`
    UPDATE tasks SET progress = ${progressJson}, updated_at = ${now} WHERE ${held(id, token)} RETURNING id`);
  return rows.length > 0;
}

/** Extends the lease (and keeps `detailsJson` for a later attempt, when given); false when the claim no longer holds the task. */
export async function heartbeatTask(db: Db, id: string, token: string, detailsJson: string | null, now: number, leaseMs: number): Promise<boolean> {
  const rows = await db.all<{ id: string }>(sql`
    UPDATE tasks SET lease_expires_at = ${now + leaseMs}, last_heartbeat = ${now}, updated_at = ${now},
      heartbeat_details = coalesce(${detailsJson}, heartbeat_details)
    WHERE ${held(id, token)} RETURNING id`);
  return rows.length > 0;
}

/** The finished steps of a task, name → result JSON. */
export async function readSteps(db: Db, id: string): Promise<Map<string, string>> {
  const rows = await db.all<{ name: string; result: string }>(sql`SELECT name, result FROM task_steps WHERE task_id = ${id}`);
  return new Map(rows.map((r) => [r.name, r.result]));
}

/**
 * Stores a finished step once (a step already stored keeps its first result); false when the claim
 * no longer holds the task, so nothing was stored.
 */
export async function saveStep(db: Db, id: string, token: string, name: string, resultJson: string, now: number): Promise<boolean> {
  const [stored] = await sqlBatch<[{ id: string }]>(db, [
    sql`INSERT INTO task_steps (task_id, name, result, created_at)
        SELECT id, ${name}, ${resultJson}, ${now} FROM tasks WHERE ${held(id, token)}
        ON CONFLICT (task_id, name) DO NOTHING RETURNING task_id AS id`,
  ]);
  if (stored.length > 0) return true;
  // Nothing inserted: either the step was there already (a concurrent run of the same step), or the claim is gone.
  const still = await db.all<{ id: string }>(sql`SELECT id FROM tasks WHERE ${held(id, token)}`);
  return still.length > 0;
}

/** Log lines a task keeps: the newest, this many in all. */
export const MAX_LOG_ENTRIES = 200;

/** Appends log entries (a JSON array of [at, attempt, level, message, data]), keeping the newest MAX_LOG_ENTRIES. */
export async function appendLogs(db: Db, id: string, token: string, entriesJson: string, now: number): Promise<boolean> {
  const rows = await db.all<{ id: string }>(sql`
    UPDATE tasks SET updated_at = ${now}, logs = (
      SELECT json_group_array(json(value)) FROM (
        SELECT value FROM (
          SELECT value, o FROM (
            SELECT value, key AS o FROM json_each(coalesce(tasks.logs, '[]'))
            UNION ALL SELECT value, 1000000 + key FROM json_each(${entriesJson}))
          ORDER BY o DESC LIMIT ${MAX_LOG_ENTRIES})
        ORDER BY o))
    WHERE ${held(id, token)} RETURNING id`);
  return rows.length > 0;
}

/** One ctx.log line as stored: [at, attempt, level, message, data]. */
export type StoredLogEntry = [at: number, attempt: number, level: LogLevel, message: string, data: unknown];

/** A task's log (read apart from the row, which lists never carry it). */
export async function readLogs(db: Db, id: string): Promise<StoredLogEntry[]> {
  const rows = await db.all<{ logs: string | null }>(sql`SELECT logs FROM tasks WHERE id = ${id}`);
  const text = rows[0]?.logs;
  return text ? (JSON.parse(text) as StoredLogEntry[]) : [];
}
