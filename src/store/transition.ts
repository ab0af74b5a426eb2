import { sql, type SQL } from "drizzle-orm";
import type { EventActor, TransitionActor } from "../db/schema";
import { statusSet, TERMINAL } from "./status-sql";
import { timelineEntry } from "./timeline-codec";
import { laneOf } from "./claim-lane";
import { minuteBucketBase } from "./rollup-buckets";

/**
 * The one way a task changes state. A transition is described by `changes`, a SELECT over the
 * rows it touches that yields, per row: `id, type, from_status, to_status, attempt, message,
 * created_at, locked_at` (plus any columns the caller's `set` reads as `c.<name>`). It becomes two
 * statements for one D1 batch (one transaction):
 *
 *  1. the rollup upsert: a handful of rows in `rollups` (counters, per-minute figures, histograms)
 *     for the whole batch, not one write per task;
 *  2. the update: status, the timeline entry appended to the row's `events`, `updated_at`, and the
 *     caller's own assignments, joined to the same `changes`. A terminal transition also flags what
 *     must follow it (see TERMINAL_FLAGS): its webhook and its dependents.
 *
 * `changes` must be deterministic (it is evaluated once per statement): both statements see the
 * same rows because nothing writes between them inside the transaction.
 */
export interface Transition {
  changes: SQL;
  actor: EventActor;
  now: number;
  /** Extra assignments, e.g. sql`error = c.error`; not run_after (see `runAfter`). */
  set?: SQL;
  /** The run_after the transition leaves (default: unchanged), written with the lane it implies. */
  runAfter?: SQL;
  /** e.g. sql`RETURNING tasks.id AS id, tasks.status AS status` */
  returning?: SQL;
}

/** What a transition writes besides its status and timeline entry. */
export type TransitionWrites = Pick<Transition, "set" | "runAfter">;

/** Histogram bucket upper bounds, ms (Prometheus' `le`, in seconds, is these / 1000). */
export const DURATION_BOUNDS_MS = [10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 1_800_000];

/** A timeline keeps its first stored entry (whose `from` is the status the task was submitted in) and the newest ones, this many in all. */
export const MAX_TIMELINE_ENTRIES = 100;

const bucketOf = (ms: SQL) =>
  sql`CASE ${sql.join(DURATION_BOUNDS_MS.map((b, i) => sql`WHEN ${ms} <= ${sql.raw(String(b))} THEN ${sql.raw(String(i))}`), sql` `)} ELSE ${sql.raw(String(DURATION_BOUNDS_MS.length))} END`;

/** What the per-minute throughput counts, besides submissions (the kinds of `minute` rows, with "submitted"). */
const THROUGHPUT_STATUSES = ["completed", "failed", "retry"] as const;

/**
 * The rollup rows a set of changes adds; also used on its own for inserts (submission). A
 * `transition` row counts the moves of one type between two statuses by one actor
 * (`actor|from|to|type`), so the counts per type and per status are the net of these rows, kept
 * per batch instead of per task. A first claim's row also buckets its queue wait, and a move out
 * of `running` its run time (the histogram bucket, -1 for a move that measures none). A
 * submission's or an outcome's row is its minute's (rollup-buckets.ts), so it carries the
 * per-minute throughput too: every transition writes one row a batch per label and bucket.
 */
export function rollupUpsert(changes: SQL, actor: TransitionActor, now: number): SQL {
  const label = sql`${actor} || '|' || coalesce(from_status, '') || '|' || to_status || '|' || type`;
  const wait = sql`max(${now} - created_at, 0)`;
  const run = sql`max(${now} - locked_at, 0)`;
  const waits = sql`to_status = 'running' AND attempt = 1`;
  const runs = sql`from_status = 'running' AND locked_at IS NOT NULL`;
  const perMinute = sql`from_status IS NULL OR to_status IN ${statusSet(THROUGHPUT_STATUSES)}`;
  return sql`
    WITH c AS MATERIALIZED (${changes})
    INSERT INTO rollups (metric, bucket, label, n, total)
    SELECT 'transition', bucket, label, count(*), sum(v) FROM (
      SELECT CASE WHEN ${waits} THEN ${bucketOf(wait)} WHEN ${runs} THEN ${bucketOf(run)} ELSE -1 END
               + CASE WHEN ${perMinute} THEN ${sql.raw(String(minuteBucketBase(now)))} ELSE 0 END AS bucket,
             ${label} AS label,
             CASE WHEN ${waits} THEN ${wait} WHEN ${runs} THEN ${run} ELSE 0 END AS v
      FROM c WHERE from_status IS NOT to_status)
    GROUP BY bucket, label
    ON CONFLICT (metric, bucket, label) DO UPDATE SET n = n + excluded.n, total = total + excluded.total`;
}

/** `tasks.events` with one more entry (an SQL json_array), keeping the first and the newest ones. */
export function appendTimelineEntry(entry: SQL): SQL {
  const kept = sql`CASE WHEN json_array_length(tasks.events) >= ${MAX_TIMELINE_ENTRIES} THEN json_remove(tasks.events, '$[1]') ELSE tasks.events END`;
  return sql`json_insert(${kept}, '$[#]', ${entry})`;
}


/**
 * What a terminal transition leaves to be done, flagged in the same update so nothing is lost
 * between the commit and the work: the completion webhook (sent after the commit, store/webhooks.ts)
 * and the dependents (released or failed by the dependency rounds, store/dependents.ts). A caller's
 * own `set` comes after these, so it may override them (the rightmost assignment wins).
 */
const TERMINAL_FLAGS = sql`
  webhook_state = CASE WHEN c.to_status IN ${TERMINAL} AND tasks.callback_url IS NOT NULL THEN 'pending' ELSE tasks.webhook_state END,
  release_cursor = CASE WHEN c.to_status IN ${TERMINAL} AND tasks.has_dependents = 1 THEN '' ELSE tasks.release_cursor END`;

export function transition(t: Transition): [SQL, SQL] {
  const entry = timelineEntry({ at: t.now, createdAt: sql`tasks.created_at`, from: sql`c.from_status`, to: sql`c.to_status`, attempt: sql`c.attempt`, actor: t.actor, message: sql`c.message` });
  const runAfter = t.runAfter ?? sql`tasks.run_after`;
  const lane = laneOf({ status: sql`c.to_status`, runAfter, priority: sql`tasks.priority`, concurrencyKey: sql`tasks.concurrency_key` });
  const update = sql`
    UPDATE tasks SET status = c.to_status, events = ${appendTimelineEntry(entry)}, updated_at = ${t.now},
      ${t.runAfter ? sql`run_after = ${t.runAfter}, ` : sql``}lane = ${lane},
      ${TERMINAL_FLAGS}${t.set ? sql`, ${t.set}` : sql``}
    FROM (${t.changes}) AS c
    WHERE tasks.id = c.id
    ${t.returning ?? sql``}`;
  return [rollupUpsert(t.changes, t.actor, t.now), update];
}

/**
 * Deletes the rows `changes` yields (with `'deleted' AS to_status`), counted like any transition
 * (`<actor>|<status>|deleted`), so the status gauges stay the net of the transitions. The timeline
 * goes with its row. Rows a task comes to own elsewhere (a durable plan's steps) must be deleted
 * here too, the one place both retention and purge delete through.
 */
export function deletion(d: { changes: SQL; actor: TransitionActor; now: number; returning?: SQL }): [SQL, SQL] {
  const remove = sql`DELETE FROM tasks WHERE id IN (SELECT id FROM (${d.changes})) ${d.returning ?? sql``}`;
  return [rollupUpsert(d.changes, d.actor, d.now), remove];
}
