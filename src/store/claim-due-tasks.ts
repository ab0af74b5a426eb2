import { sql, type SQL } from "drizzle-orm";
import { chunkJsonArray, D1_JSON_BUDGET_BYTES } from "../lib/platform-limits";
import type { TaskEnvelope } from "../organism/task-contracts";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { withParentResults } from "./parent-results";
import { CLAIMABLE } from "./status-sql";
import { transition } from "./transition";

/** What a pass needs of a claimed task to run it and decide its outcome. */
export interface ClaimedTask extends Pick<TaskEnvelope, "id" | "type" | "params" | "description" | "domain" | "drift_score" | "parents" | "last_heartbeat"> {
  /** The attempt this claim started (attempts after the claim). */
  attempts: number;
  max_attempts: number;
  input_bytes: number;
  concurrency_key: string | null;
  /** 1 when children depend on it: its outcome write carries a dependency round. */
  has_dependents: number;
  /** Its place in the claim order (due time − head start, ms); RETURNING rows come in no particular order. */
  sort_key: number;
}

export interface ClaimRequest {
  /** Fencing token: outcome writes must present it. */
  token: string;
  now: number;
  leaseMs: number;
  maxTasks: number;
  /** Cap on the claimed tasks' params + description; the first task is always taken. */
  maxInputBytes: number;
  /** Claim only this task, if it is among the candidates (a failed claim is narrowed down to its task). */
  only?: string;
  /** Which types the claim may take (default: every type): the dispatcher skips pull types, a pull lease takes only them. */
  types?: TypeFilter;
}

/**
 * The types a claim may take from, besides pause and backlog: `except` (the dispatcher: every type
 * but the pull types) or `only` (a pull worker's lease: the pull types it asked for). An empty
 * `except` is no filter at all (the plain claim); an empty `only` takes nothing.
 */
export type TypeFilter = { except: readonly string[] } | { only: readonly string[] };

export interface ClaimResult {
  claimed: ClaimedTask[];
  /** The earliest future run_after of a waiting task, so the caller can schedule a wake-up. */
  nextRunAfter: number | null;
  /**
   * Some claimed task has a concurrency key: its outcome frees a slot that a waiting task of the
   * key may take at once, so the caller should look again even if the pass was not full.
   */
  keyed: boolean;
}

const due = (now: number) => sql`sort_key <= ${now} AND (run_after IS NULL OR run_after <= ${now})`;

/**
 * The types a claim may take from: those not paused (task_types has one row per type ever
 * submitted). The claim reads the pause here, in its own statement, so pausing or resuming a type
 * writes its one row whatever its backlog, and no task of a paused type is taken in between. A
 * type without due tasks costs one seek of the due index that finds nothing.
 */
const claimableTypes = (types?: TypeFilter) => sql`SELECT type FROM task_types WHERE paused = 0${typeFilter(types)}`;

/**
 * The type filter, applied to task_types (one row per type) and so outside every index seek: the
 * claim still reads one range per claimable type, and a filtered-out type's backlog is never read.
 * One bound parameter per use (a JSON array), whatever the number of types.
 */
const NO_FILTER = sql``;
function typeFilter(types?: TypeFilter): SQL {
  if (types === undefined) return NO_FILTER;
  if ("only" in types) return sql` AND type IN (SELECT value FROM json_each(${JSON.stringify(types.only)}))`;
  if (types.except.length === 0) return NO_FILTER;
  return sql` AND type NOT IN (SELECT value FROM json_each(${JSON.stringify(types.except)}))`;
}

/**
 * Due tasks without a concurrency key but with an order key of their own (lane 1: a run_after or a
 * head start; or retrying): per claimable type, a range of the partial due index,
 * oldest order key first (no sort of all due rows, no read of a paused type's backlog), merged by
 * the caller. `run_after` is tested on its own because a head start (priority) puts a task's order
 * key before its due time. CROSS JOIN keeps the types outside, so each is one seek; INDEXED BY
 * because, without table statistics, SQLite preferred a status index and sorted every queued
 * row (measured: 200,000 rows sorted per claim).
 */
const unkeyedDue = (now: number, limit: number, types?: TypeFilter) =>
  perClaimableType(types, sql`t.id IN (
    SELECT id FROM tasks INDEXED BY tasks_due_idx
    WHERE type = ty.type AND status IN ${CLAIMABLE} AND concurrency_key IS NULL AND (status = 'retry' OR lane = 1) AND ${due(now)}
    ORDER BY sort_key, id LIMIT ${limit})`);

/**
 * Plain queued tasks (lane 0, claim-lane.ts), which have no due-index entry: per claimable type, a
 * range of tasks_type_status_idx, oldest first, since their order key is their created_at.
 */
const plainDue = (now: number, limit: number, types?: TypeFilter) =>
  perClaimableType(types, sql`t.rowid IN (
    SELECT rowid FROM tasks INDEXED BY tasks_type_status_idx
    WHERE type = ty.type AND status = 'queued' AND lane = 0 AND created_at <= ${now}
    ORDER BY created_at, rowid LIMIT ${limit})`);

/** The unkeyed candidates (turn 1) that `range` picks for each claimable type `ty`: one seek each. */
const perClaimableType = (types: TypeFilter | undefined, range: SQL) => sql`
  SELECT t.id, t.sort_key, t.input_bytes, 1 AS turn
  FROM (${claimableTypes(types)}) AS ty
  CROSS JOIN tasks AS t ON ${range}`;

/**
 * Due tasks with a key, taking turns: the keys that may run more (not paused, under their limit,
 * with a due task of a claimable type) least recently served first, at most `limit` of them; of
 * each, its oldest due tasks up to its free slots, numbered by turn (a key's first task is turn 1,
 * its second turn 2 …). Each key is one short range of tasks_key_due_idx per claimable type, so a
 * key with 10,000 queued tasks costs what a key with one costs, and a key whose waiting tasks are
 * all paused (or not yet due) is passed over instead of holding a turn it cannot use. Reading
 * `running` here, inside the claim's own statement (D1 runs one write transaction at a time), is
 * what keeps concurrent passes under the limit.
 */
const keyedDue = (now: number, limit: number, types?: TypeFilter) => sql`
  SELECT id, sort_key, input_bytes, turn FROM (
    SELECT t.id, t.sort_key, t.input_bytes, k.slots,
           row_number() OVER (PARTITION BY k.key ORDER BY t.sort_key, t.id) AS turn
    FROM (SELECT key, max_running - running AS slots FROM concurrency_keys AS ck
          WHERE waiting > 0 AND paused = 0 AND running < max_running
            AND EXISTS (SELECT 1 FROM tasks AS e INDEXED BY tasks_key_due_idx
                        WHERE e.concurrency_key = ck.key AND e.type IN (${claimableTypes(types)})
                          AND e.status IN ${CLAIMABLE} AND e.concurrency_key IS NOT NULL
                          AND e.sort_key <= ${now} AND (e.run_after IS NULL OR e.run_after <= ${now}))
          ORDER BY served_at, key LIMIT ${limit}) AS k
    CROSS JOIN (${claimableTypes(types)}) AS ty
    CROSS JOIN tasks AS t ON t.id IN (
      SELECT id FROM tasks INDEXED BY tasks_key_due_idx
      WHERE concurrency_key = k.key AND type = ty.type AND status IN ${CLAIMABLE} AND concurrency_key IS NOT NULL AND ${due(now)}
      ORDER BY sort_key, id LIMIT ${limit}))
  WHERE turn <= slots`;

/**
 * The best due tasks: every task without a key (plain or not) and each key's first task compete by order key
 * (turn 1), then each key's second task (turn 2), and so on; at most `maxTasks`, then cut where
 * the running sum of their input bytes passes the cap. Deterministic, so the rollup and the
 * update select the same rows inside one transaction.
 */
export function dueCandidates(req: Pick<ClaimRequest, "now" | "maxTasks" | "maxInputBytes" | "types">): SQL {
  return sql`
    SELECT id FROM (
      SELECT id, row_number() OVER w AS n, sum(input_bytes) OVER w AS bytes
      FROM (SELECT * FROM (${plainDue(req.now, req.maxTasks, req.types)})
            UNION ALL
            SELECT * FROM (${unkeyedDue(req.now, req.maxTasks, req.types)})
            UNION ALL
            SELECT * FROM (${keyedDue(req.now, req.maxTasks, req.types)})
            ORDER BY turn, sort_key, id LIMIT ${req.maxTasks})
      WINDOW w AS (ORDER BY turn, sort_key, id ROWS UNBOUNDED PRECEDING))
    WHERE n = 1 OR bytes <= ${req.maxInputBytes}`;
}

/**
 * One seek of the partial index over waiting tasks that have a run_after (INDEXED BY: see
 * unkeyedDue). With a type filter, the index is walked in run_after order to the first row the
 * filter keeps (the rows stepped over are the other side's waiting retries and delayed tasks).
 */
const nextRunAfterQuery = (now: number, types?: TypeFilter) => {
  const filter = typeFilter(types);
  if (filter === NO_FILTER) {
    return sql`
  SELECT min(run_after) AS next FROM tasks INDEXED BY tasks_waiting_idx
  WHERE status IN ${CLAIMABLE} AND run_after IS NOT NULL AND run_after > ${now}`;
  }
  return sql`
  SELECT (SELECT run_after FROM tasks INDEXED BY tasks_waiting_idx
          WHERE status IN ${CLAIMABLE} AND run_after IS NOT NULL AND run_after > ${now}${filter}
          ORDER BY run_after LIMIT 1) AS next`;
};

interface RawClaimed extends Omit<ClaimedTask, "params" | "parents" | "last_heartbeat"> {
  params: string;
  depends_on: string | null;
  heartbeat_details: string | null;
}

/**
 * One pass's claim, in one transaction: the due tasks become `running` with attempts + 1 (the
 * only place attempts grows), the fencing token and a lease. Concurrent passes never take the
 * same task: D1 runs one write transaction at a time and the update re-checks the status.
 */
export async function claimDueTasks(db: Db, req: ClaimRequest): Promise<ClaimResult> {
  const [rollup, update] = transition({
    changes: sql`
      SELECT id, type, status AS from_status, 'running' AS to_status, attempts + 1 AS attempt, 'claimed' AS message, created_at, locked_at
      FROM tasks WHERE id IN (${dueCandidates(req)}) AND +status IN ${CLAIMABLE}${req.only === undefined ? sql`` : sql` AND id = ${req.only}`}`,
    actor: "dispatcher",
    now: req.now,
    // No heartbeat yet: last_heartbeat reads as locked_at (NULL stores 6 B less in every finished row).
    set: sql`attempts = attempts + 1, locked_by = ${req.token}, locked_at = ${req.now},
             lease_expires_at = ${req.now + req.leaseMs}, last_heartbeat = NULL`,
    returning: sql`RETURNING tasks.id AS id, tasks.type AS type, tasks.params AS params, tasks.depends_on AS depends_on, tasks.description AS description,
      tasks.domain AS domain, tasks.drift_score AS drift_score, tasks.attempts AS attempts, tasks.max_attempts AS max_attempts,
      tasks.input_bytes AS input_bytes, tasks.concurrency_key AS concurrency_key,
      tasks.has_dependents AS has_dependents, tasks.heartbeat_details AS heartbeat_details, tasks.sort_key AS sort_key`,
  });
  const [, claimed, next] = await sqlBatch<[unknown, RawClaimed, { next: number | null }]>(db, [rollup, update, nextRunAfterQuery(req.now, req.types)]);
  const parsed = claimed.map(({ depends_on, heartbeat_details, ...r }) => ({
    ...r,
    last_heartbeat: heartbeat_details === null ? null : (JSON.parse(heartbeat_details) as unknown),
    params: JSON.parse(r.params) as Record<string, unknown>,
    depends_on: depends_on === null ? null : (JSON.parse(depends_on) as string[]),
  }));
  return {
    // Dependents' parents are read apart from the claim (parent-results.ts); without dependents, no read.
    claimed: await withParentResults(db, parsed),
    nextRunAfter: next[0]?.next ?? null,
    keyed: claimed.some((r) => r.concurrency_key !== null),
  };
}

/** Heartbeat: extends the lease of the tasks this claim still holds; the ids it still holds (a cancelled task's is gone). */
export async function renewLeases(db: Db, ids: string[], token: string, now: number, leaseMs: number): Promise<Set<string>> {
  const held = new Set<string>();
  for (const chunk of chunkJsonArray(ids, D1_JSON_BUDGET_BYTES)) {
    const rows = await db.all<{ id: string }>(sql`
      UPDATE tasks SET lease_expires_at = ${now + leaseMs}, last_heartbeat = ${now}, updated_at = ${now}
      WHERE id IN (SELECT value FROM json_each(${chunk.json}))
        AND +status = 'running' AND locked_by = ${token}
      RETURNING id`);
    for (const r of rows) held.add(r.id);
  }
  return held;
}

/** Is work due now? The tasks the next claim would take only: bounded however long the backlog. */
export async function oldestDueTouch(db: Db, now: number, types?: TypeFilter): Promise<number | null> {
  const rows = await db.all<{ touched: number | null }>(sql`
    SELECT min(updated_at) AS touched FROM tasks WHERE id IN (${dueCandidates({ now, maxTasks: 100, maxInputBytes: Number.MAX_SAFE_INTEGER, types })})`);
  return rows[0]?.touched ?? null;
}
