import { sql } from "drizzle-orm";
import { TASK_STATUSES, TRANSITION_ACTORS, type TaskStatus, type TransitionActor } from "../db/schema";
import type { Db } from "./db";
import { DURATION_BOUNDS_MS } from "./transition";
import { decodeTransitionBucket, FIRST_MINUTE_BUCKET, MINUTE_SLOTS, minuteBucketBase } from "./rollup-buckets";
import { sqlBatch } from "./sql-batch";

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

/** A `transition` row's label: `actor|from|to|type` (from is empty for a submission). */
function parseTransition(r: Pick<RollupRow, "label" | "n">): (TransitionCount & { type: string }) | null {
  const [actor = "", from = "", to = "", ...type] = r.label.split("|");
  if (!isActor(actor) || (from !== "" && !isStatus(from)) || !(isStatus(to) || to === "deleted")) return null;
  return { actor, from_status: from === "" ? null : from, to_status: to, n: r.n, type: type.join("|") };
}

/** The histogram a set of transition rows carries in their buckets (-1: no duration). */
function histogram(rows: (RollupRow & { histogram: number })[]): DurationHistogram {
  rows = rows.filter((r) => r.histogram >= 0);
  // Every type's and minute's rows of a bucket add up.
  const perBucket = DURATION_BOUNDS_MS.map((_, i) => rows.reduce((n, r) => n + (r.histogram === i ? r.n : 0), 0));
  let running = 0;
  return {
    boundsMs: DURATION_BOUNDS_MS,
    cumulative: perBucket.map((n) => (running += n)),
    sumMs: rows.reduce((s, r) => s + r.total, 0),
    count: rows.reduce((s, r) => s + r.n, 0),
  };
}

/** One count per actor, from and to: the rows of every type and duration bucket summed. */
function mergeByLabel(rows: readonly TransitionCount[]): TransitionCount[] {
  const merged = new Map<string, TransitionCount>();
  for (const { actor, from_status, to_status, n } of rows) {
    const key = `${actor}|${from_status ?? ""}|${to_status}`;
    const m = merged.get(key);
    if (m) m.n += n;
    else merged.set(key, { actor, from_status, to_status, n });
  }
  return [...merged.values()];
}

/** Counts per status of each of `types`: the net of its transitions (GET /types). */
export async function countsByType(db: Db, types: readonly string[]): Promise<Map<string, Record<TaskStatus, number>>> {
  const wanted = new Set(types);
  const rows = await db.all<{ label: string; n: number }>(sql`SELECT label, sum(n) AS n FROM rollups WHERE metric = 'transition' GROUP BY label`);
  const byType = new Map<string, TransitionCount[]>([...wanted].map((t) => [t, []]));
  for (const t of rows.flatMap((r) => parseTransition(r) ?? [])) byType.get(t.type)?.push(t);
  return new Map(
    [...byType].map(([type, moves]) => [type, Object.fromEntries(statusCounts(moves).map((c) => [c.status, c.n])) as Record<TaskStatus, number>]),
  );
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
  const transitionRows = rows.filter((r) => r.metric === "transition").flatMap((r) => {
    const t = parseTransition(r);
    return t === null ? [] : [{ ...r, ...t, ...decodeTransitionBucket(r.bucket) }];
  });
  const transitions = mergeByLabel(transitionRows);
  const throughput = new Map<number, ThroughputMinute>();
  const count = (minute: number, kind: string, n: number) => {
    const m = throughput.get(minute) ?? { minute, submitted: 0, completed: 0, failed: 0, retried: 0 };
    if (kind === "submitted") m.submitted += n;
    else if (kind === "completed") m.completed += n;
    else if (kind === "failed") m.failed += n;
    else if (kind === "retry") m.retried += n;
    throughput.set(minute, m);
  };
  for (const r of rows) if (r.metric === "minute") count(r.bucket, r.label, r.n);
  // A minute's transition rows not folded yet (rollup-buckets.ts).
  for (const r of transitionRows) if (r.minute !== null && r.minute >= since) count(r.minute, r.from_status === null ? "submitted" : r.to_status, r.n);
  return {
    byStatus: statusCounts(transitions),
    transitions,
    counters: Object.fromEntries(rows.filter((r) => r.metric === "counter").map((r) => [r.label, r.n])),
    queueWait: histogram(transitionRows.filter((r) => r.to_status === "running")),
    runTime: histogram(transitionRows.filter((r) => r.from_status === "running")),
    throughput: [...throughput.values()].sort((a, b) => a.minute - b.minute),
    dbSizeBytes: typeof result.meta?.size_after === "number" ? result.meta.size_after : null,
  };
}

/** Per-minute rows older than this are dropped by the maintenance alarm (/stats shows at most 60). */
export const MINUTE_ROLLUP_RETENTION_MS = 24 * 60 * 60 * 1000;

/** The statements of foldMinuteRollups' one batch. */
export const FOLD_STATEMENTS = 4;

/**
 * The maintenance alarm's upkeep of the rollups, one transaction: the transition rows of minutes
 * before `now`'s (rollup-buckets.ts) are added to the all-time rows of their label and histogram
 * bucket and to their minute's `minute` row of their kind (submitted, completed, failed, retry),
 * then deleted; `minute` rows older than `pruneBefore` go. Its cost is per minute and label, not
 * per task: about 2 rows written for each minute row folded, and 1 for each `minute` row.
 */
export async function foldMinuteRollups(db: Db, now: number, pruneBefore: number): Promise<void> {
  // Literals: a bound number may arrive as a REAL, and bucket / 16 must be an integer division.
  const SLOTS = sql.raw(String(MINUTE_SLOTS));
  const past = sql`metric = 'transition' AND bucket >= ${FIRST_MINUTE_BUCKET} AND bucket < ${minuteBucketBase(now) - 1}`;
  // label = actor|from|to|type: `rest` is from|to|type, `tail` is to|type.
  const kinds = sql`
    SELECT minute, n, CASE WHEN substr(rest, 1, 1) = '|' THEN 'submitted' ELSE substr(tail, 1, instr(tail, '|') - 1) END AS kind
    FROM (SELECT minute, n, rest, substr(rest, instr(rest, '|') + 1) AS tail
          FROM (SELECT (bucket / ${SLOTS}) * 60000 AS minute, n, substr(label, instr(label, '|') + 1) AS rest FROM rollups WHERE ${past}))`;
  await sqlBatch(db, [
    sql`INSERT INTO rollups (metric, bucket, label, n, total)
        SELECT 'transition', (bucket % ${SLOTS}) - 1 AS histogram, label, sum(n), sum(total) FROM rollups WHERE ${past}
        GROUP BY histogram, label
        ON CONFLICT (metric, bucket, label) DO UPDATE SET n = n + excluded.n, total = total + excluded.total`,
    sql`INSERT INTO rollups (metric, bucket, label, n)
        SELECT 'minute', minute, kind, sum(n) FROM (${kinds}) WHERE true GROUP BY minute, kind
        ON CONFLICT (metric, bucket, label) DO UPDATE SET n = n + excluded.n`,
    sql`DELETE FROM rollups WHERE ${past}`,
    sql`DELETE FROM rollups WHERE metric = 'minute' AND bucket < ${pruneBefore}`,
  ]);
}
