import { sql } from "drizzle-orm";
import type { MissedPolicy } from "../db/schema";
import { COUNTER } from "./metric-counters";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";

/** A schedule row as raw SQL returns it, with its last task's status joined in. */
export interface RawSchedule {
  name: string;
  cron: string;
  timezone: string;
  task: string;
  missed: MissedPolicy;
  max_catchup: number;
  paused: number;
  next_run_at: number | null;
  last_run_at: number | null;
  last_task_id: string | null;
  last_task_status: string | null;
  fired: number;
  skipped: number;
  created_at: number;
  updated_at: number;
}

export interface ScheduleFields {
  cron: string;
  timezone: string;
  task: Record<string, unknown>;
  missed: MissedPolicy;
  max_catchup: number;
}

const SELECT_SCHEDULE = sql`
  SELECT s.*, t.status AS last_task_status FROM schedules AS s LEFT JOIN tasks AS t ON t.id = s.last_task_id`;

/** Null when a schedule of that name exists. */
export async function insertSchedule(db: Db, name: string, f: ScheduleFields, nextRunAt: number | null, now: number): Promise<RawSchedule | null> {
  const [inserted, rows] = await sqlBatch<[{ name: string }, RawSchedule]>(db, [
    sql`
      INSERT INTO schedules (name, cron, timezone, task, missed, max_catchup, next_run_at, created_at, updated_at)
      VALUES (${name}, ${f.cron}, ${f.timezone}, ${JSON.stringify(f.task)}, ${f.missed}, ${f.max_catchup}, ${nextRunAt}, ${now}, ${now})
      ON CONFLICT (name) DO NOTHING RETURNING name`,
    sql`${SELECT_SCHEDULE} WHERE s.name = ${name}`,
  ]);
  return inserted.length === 0 ? null : (rows[0] ?? null);
}

export async function getSchedule(db: Db, name: string): Promise<RawSchedule | null> {
  const rows = await db.all<RawSchedule>(sql`${SELECT_SCHEDULE} WHERE s.name = ${name}`);
  return rows[0] ?? null;
}

/** One page by name. */
export async function listSchedules(db: Db, after: string | null, limit: number): Promise<RawSchedule[]> {
  return db.all<RawSchedule>(sql`${SELECT_SCHEDULE} WHERE s.name > ${after ?? ""} ORDER BY s.name LIMIT ${limit}`);
}

/** Replaces the definition (and the next slot); null when there is no such schedule. */
export async function updateSchedule(db: Db, name: string, f: ScheduleFields & { paused: boolean }, nextRunAt: number | null, now: number): Promise<RawSchedule | null> {
  const [, rows] = await sqlBatch<[unknown, RawSchedule]>(db, [
    sql`
      UPDATE schedules SET cron = ${f.cron}, timezone = ${f.timezone}, task = ${JSON.stringify(f.task)}, missed = ${f.missed},
             max_catchup = ${f.max_catchup}, paused = ${f.paused ? 1 : 0}, next_run_at = ${nextRunAt}, updated_at = ${now}
      WHERE name = ${name}`,
    sql`${SELECT_SCHEDULE} WHERE s.name = ${name}`,
  ]);
  return rows[0] ?? null;
}

/** The schedule as it was, or null when there was none. */
export async function deleteSchedule(db: Db, name: string): Promise<RawSchedule | null> {
  const [rows] = await sqlBatch<[RawSchedule, unknown]>(db, [sql`${SELECT_SCHEDULE} WHERE s.name = ${name}`, sql`DELETE FROM schedules WHERE name = ${name}`]);
  return rows[0] ?? null;
}

/** The schedules whose next slot has come, oldest slot first (a range of schedules_due_idx). */
export async function dueSchedules(db: Db, now: number, limit: number): Promise<RawSchedule[]> {
  return db.all<RawSchedule>(sql`
    ${SELECT_SCHEDULE} WHERE s.next_run_at IS NOT NULL AND s.next_run_at <= ${now} ORDER BY s.next_run_at LIMIT ${limit}`);
}

/**
 * When the alarm must next fire for a schedule: the earliest slot after `after`. A slot still due
 * at or before it failed to fire this pass and waits for the next tick, not a hot alarm loop.
 */
export async function earliestNextRun(db: Db, after: number): Promise<number | null> {
  const rows = await db.all<{ next: number | null }>(sql`SELECT min(next_run_at) AS next FROM schedules WHERE next_run_at > ${after}`);
  return rows[0]?.next ?? null;
}

export interface Advance {
  /** The next_run_at the firing pass read: another pass that got there first makes this a no-op. */
  from: number;
  next: number | null;
  lastRunAt: number | null;
  lastTaskId: string | null;
  /** Tasks this pass created (slots another pass created are not counted twice). */
  fired: number;
  skipped: number;
}

/** Moves a schedule past the slots a pass handled, and counts them, in one transaction. */
export async function advanceSchedule(db: Db, name: string, a: Advance, now: number): Promise<boolean> {
  const [moved] = await sqlBatch<[{ name: string }, unknown]>(db, [
    sql`
      UPDATE schedules SET next_run_at = ${a.next}, last_run_at = coalesce(${a.lastRunAt}, last_run_at),
             last_task_id = coalesce(${a.lastTaskId}, last_task_id), fired = fired + ${a.fired}, skipped = skipped + ${a.skipped},
             updated_at = ${now}
      WHERE name = ${name} AND next_run_at = ${a.from} AND paused = 0
      RETURNING name`,
    // changes() is the update's: a pass that lost the race to another counts nothing.
    sql`
      INSERT INTO rollups (metric, bucket, label, n)
      SELECT 'counter', 0, column1, column2 FROM (VALUES (${COUNTER.scheduleTasksFired}, ${a.fired}), (${COUNTER.scheduleSlotsSkipped}, ${a.skipped}))
      WHERE changes() > 0 AND column2 > 0
      ON CONFLICT (metric, bucket, label) DO UPDATE SET n = n + excluded.n`,
  ]);
  return moved.length > 0;
}

/** After a manual trigger: the schedule's last task is the triggered one. */
export async function setLastTask(db: Db, name: string, taskId: string, now: number): Promise<void> {
  await db.run(sql`UPDATE schedules SET last_task_id = ${taskId}, fired = fired + 1, updated_at = ${now} WHERE name = ${name}`);
}
