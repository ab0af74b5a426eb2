import { sql, type SQL } from "drizzle-orm";
import type { EventActor, TaskStatus } from "../db/schema";
import type { Db } from "./db";
import type { CounterName } from "./metric-counters";
import { sqlBatch } from "./sql-batch";

/**
 * Read-only aggregates for /metrics and the dashboard. Counters come from `task_events` (one row
 * per state change, written in the same transaction as the change), so they survive crashes and
 * agree with the tasks table exactly (they aggregate the whole table, so a scrape grows with the
 * history). Histograms and throughput read only the newest `windowEvents` events: an id range on
 * the primary key, materialised first so that no GROUP BY can steer SQLite to walk an index of
 * the whole table instead (the plans are checked in hot-path.integration.test.ts).
 */

export interface TransitionCount {
  actor: EventActor;
  from_status: TaskStatus | null;
  to_status: TaskStatus;
  n: number;
}

/** Cumulative counts of observations ≤ each bound, in milliseconds. */
export interface DurationHistogram {
  boundsMs: number[];
  cumulative: number[];
  sumMs: number;
  count: number;
}

export interface MetricsSnapshot {
  byStatus: { status: TaskStatus; n: number }[];
  transitions: TransitionCount[];
  /** metric_counters by name (what is not a task transition). */
  counters: Partial<Record<CounterName, number>>;
  queueWait: DurationHistogram;
  runTime: DurationHistogram;
}

/** The newest `n` events: ids are AUTOINCREMENT, so this is a primary-key range. */
const recentEvents = (n: number) => sql`id > (SELECT coalesce(max(id), 0) FROM task_events) - ${n}`;

function bucketColumns(boundsMs: number[]): SQL {
  return sql.join(
    boundsMs.map((b, i) => sql`coalesce(sum(v <= ${b}), 0) AS ${sql.raw(`le_${i}`)}`),
    sql`, `,
  );
}

type HistogramRow = Record<string, number | null>;

function toHistogram(boundsMs: number[], row: HistogramRow | undefined): DurationHistogram {
  return {
    boundsMs,
    cumulative: boundsMs.map((_, i) => Number(row?.[`le_${i}`] ?? 0)),
    sumMs: Number(row?.["sum_ms"] ?? 0),
    count: Number(row?.["n"] ?? 0),
  };
}

/**
 * Queue wait: from `created_at` to the task's first claim (the attempt-1 `running` event), for
 * tasks first claimed within the newest `windowEvents` events.
 */
export function queueWaitQuery(windowEvents: number, boundsMs: number[]): SQL {
  return sql`
    WITH w AS MATERIALIZED (SELECT task_id, at FROM task_events
                            WHERE ${recentEvents(windowEvents)} AND to_status = 'running' AND attempt = 1),
         firsts AS (SELECT task_id, min(at) AS at FROM w GROUP BY task_id),
         waits AS (SELECT max(f.at - t.created_at, 0) AS v FROM firsts AS f JOIN tasks AS t ON t.id = f.task_id)
    SELECT count(*) AS n, coalesce(sum(v), 0) AS sum_ms, ${bucketColumns(boundsMs)} FROM waits`;
}

/**
 * Run time: from a claim to the end of that attempt (completed, failed, retry, reaped, cancelled
 * or dead-lettered: the next event of the same attempt that leaves `running`), both within the
 * newest `windowEvents` events.
 */
export function runTimeQuery(windowEvents: number, boundsMs: number[]): SQL {
  return sql`
    WITH w AS MATERIALIZED (SELECT task_id, at, from_status, to_status, attempt FROM task_events
                            WHERE ${recentEvents(windowEvents)}),
         runs AS (SELECT min(e.at) - s.at AS v FROM w AS s
                  JOIN w AS e ON e.task_id = s.task_id AND e.attempt = s.attempt
                             AND e.from_status = 'running' AND e.at >= s.at
                  WHERE s.to_status = 'running'
                  GROUP BY s.task_id, s.attempt, s.at)
    SELECT count(*) AS n, coalesce(sum(v), 0) AS sum_ms, ${bucketColumns(boundsMs)} FROM runs`;
}

const byStatusQuery = () => sql`SELECT status, count(*) AS n FROM tasks GROUP BY status`;

/** Everything /metrics reads from D1, in one round trip (one read transaction). */
export async function readMetricsSnapshot(db: Db, opts: { windowEvents: number; boundsMs: number[] }): Promise<MetricsSnapshot> {
  const [byStatus, transitions, wait, run, counters] = await sqlBatch<
    [{ status: TaskStatus; n: number }, TransitionCount, HistogramRow, HistogramRow, { name: CounterName; value: number }]
  >(db, [
    byStatusQuery(),
    sql`SELECT actor, from_status, to_status, count(*) AS n FROM task_events GROUP BY actor, from_status, to_status`,
    queueWaitQuery(opts.windowEvents, opts.boundsMs),
    runTimeQuery(opts.windowEvents, opts.boundsMs),
    sql`SELECT name, value FROM metric_counters`,
  ]);
  return {
    byStatus,
    transitions,
    counters: Object.fromEntries(counters.map((c) => [c.name, c.value])),
    queueWait: toHistogram(opts.boundsMs, wait[0]),
    runTime: toHistogram(opts.boundsMs, run[0]),
  };
}

export interface ThroughputMinute {
  /** Start of the minute, epoch ms. */
  minute: number;
  submitted: number;
  completed: number;
  failed: number;
  retried: number;
}

/** Per-minute submitted/completed/failed/retried since `since`, read from the newest `windowEvents` events. */
const throughputQuery = (since: number, windowEvents: number) => sql`
    SELECT (at / 60000) * 60000 AS minute,
           sum(from_status IS NULL) AS submitted,
           sum(to_status = 'completed') AS completed,
           sum(to_status = 'failed') AS failed,
           sum(to_status = 'retry') AS retried
    FROM task_events
    WHERE ${recentEvents(windowEvents)} AND at >= ${since}
    GROUP BY minute ORDER BY minute`;

/** For GET /stats: tasks by current status (only statuses that have tasks) and per-minute throughput, in one round trip. */
export async function readStats(db: Db, since: number, windowEvents: number): Promise<{ byStatus: { status: TaskStatus; n: number }[]; throughput: ThroughputMinute[] }> {
  const [byStatus, throughput] = await sqlBatch<[{ status: TaskStatus; n: number }, ThroughputMinute]>(db, [byStatusQuery(), throughputQuery(since, windowEvents)]);
  return { byStatus, throughput };
}
