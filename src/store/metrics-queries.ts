import { sql } from "drizzle-orm";
import { TASK_STATUSES, TRANSITION_ACTORS, type TaskStatus, type TransitionActor } from "../db/schema";
import type { Db } from "./db";
import { DURATION_BOUNDS_MS } from "./transition";

/**
 * Read-only aggregates for /metrics, /stats and the dashboard, from the rollups rows that every
 * transition updates in its own transaction (see transition.ts). Nothing here reads the tasks
 * table, so a scrape or a poll costs the same at ten million tasks as at ten.
 */

export interface TransitionCount {
  actor: TransitionActor;
  from_status: TaskStatus | null;
  /** `deleted` for a task removed by retention or purge. */
  to_status: TaskStatus | "deleted";
  n: number;
}

/** Cumulative counts of observations ≤ each bound, in milliseconds. */
export interface DurationHistogram {
  boundsMs: number[];
  cumulative: number[];
  sumMs: number;
  count: number;
}

export interface ThroughputMinute {
  /** Start of the minute, epoch ms. */
  minute: number;
  submitted: number;
  completed: number;
  failed: number;
  retried: number;
}

export interface MetricsSnapshot {
  /** Every status, 0 included: the net of the transitions into and out of it. */
  byStatus: { status: TaskStatus; n: number }[];
  transitions: TransitionCount[];
  /** Named counters that are not task transitions (dead-lettered wake-ups). */
  counters: Record<string, number>;
  queueWait: DurationHistogram;
  runTime: DurationHistogram;
  throughput: ThroughputMinute[];
  /** The database's size after the read, as D1 reports it (null where it does not). */
  dbSizeBytes: number | null;
}

interface RollupRow {
  metric: string;
  bucket: number;
  label: string;
  n: number;
  total: number;
}

const isStatus = (s: string): s is TaskStatus => (TASK_STATUSES as readonly string[]).includes(s);
const isActor = (s: string): s is TransitionActor => (TRANSITION_ACTORS as readonly string[]).includes(s);

function parseTransition(r: RollupRow): TransitionCount | null {
  const [actor = "", from = "", to = ""] = r.label.split("|");
  if (!isActor(actor) || (from !== "" && !isStatus(from)) || !(isStatus(to) || to === "deleted")) return null;
  return { actor, from_status: from === "" ? null : from, to_status: to, n: r.n };
}

function histogram(rows: RollupRow[]): DurationHistogram {
  const perBucket = DURATION_BOUNDS_MS.map((_, i) => rows.find((r) => r.bucket === i)?.n ?? 0);
  let running = 0;
  return {
    boundsMs: DURATION_BOUNDS_MS,
    cumulative: perBucket.map((n) => (running += n)),
    sumMs: rows.reduce((s, r) => s + r.total, 0),
    count: rows.reduce((s, r) => s + r.n, 0),
  };
}

/** Net count per status from the transitions: into it minus out of it (deletion is out). */
export function statusCounts(transitions: readonly TransitionCount[]): { status: TaskStatus; n: number }[] {
  const net = new Map<TaskStatus, number>(TASK_STATUSES.map((s) => [s, 0]));
  for (const t of transitions) {
    if (t.to_status !== "deleted") net.set(t.to_status, (net.get(t.to_status) ?? 0) + t.n);
    if (t.from_status !== null) net.set(t.from_status, (net.get(t.from_status) ?? 0) - t.n);
  }
  return TASK_STATUSES.map((status) => ({ status, n: net.get(status) ?? 0 }));
}

/** Every rollup but minutes before `since`, in one small read (the table holds a few hundred rows). */
export async function readMetricsSnapshot(db: Db, since: number): Promise<MetricsSnapshot> {
  const result = await db.$client
    .prepare("SELECT metric, bucket, label, n, total FROM rollups WHERE metric != 'minute' OR bucket >= ?")
    .bind(since)
    .all<RollupRow>();
  const rows = result.results;
  const transitions = rows.filter((r) => r.metric === "transition").flatMap((r) => parseTransition(r) ?? []);
  const throughput = new Map<number, ThroughputMinute>();
  for (const r of rows.filter((x) => x.metric === "minute")) {
    const m = throughput.get(r.bucket) ?? { minute: r.bucket, submitted: 0, completed: 0, failed: 0, retried: 0 };
    if (r.label === "submitted") m.submitted += r.n;
    else if (r.label === "completed") m.completed += r.n;
    else if (r.label === "failed") m.failed += r.n;
    else if (r.label === "retry") m.retried += r.n;
    throughput.set(r.bucket, m);
  }
  return {
    byStatus: statusCounts(transitions),
    transitions,
    counters: Object.fromEntries(rows.filter((r) => r.metric === "counter").map((r) => [r.label, r.n])),
    queueWait: histogram(rows.filter((r) => r.metric === "queue_wait")),
    runTime: histogram(rows.filter((r) => r.metric === "run_time")),
    throughput: [...throughput.values()].sort((a, b) => a.minute - b.minute),
    dbSizeBytes: typeof result.meta?.size_after === "number" ? result.meta.size_after : null,
  };
}

/** Per-minute rows older than this are dropped by the maintenance alarm (/stats shows at most 60). */
export const MINUTE_ROLLUP_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Drops per-minute rollups older than `before`: a bounded range of the primary key. */
export async function pruneMinuteRollups(db: Db, before: number): Promise<void> {
  await db.run(sql`DELETE FROM rollups WHERE metric = 'minute' AND bucket < ${before}`);
}
