import { sql, type SQL } from "drizzle-orm";
import { chunkJsonArray, D1_JSON_BUDGET_BYTES } from "../lib/platform-limits";
import type { StoredPlan } from "../organism/plan-progress";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { PARAMS_WITH_PARENTS } from "./dependents";
import { CLAIMABLE } from "./status-sql";
import { transition } from "./transition";

/** What a pass needs of a claimed task to run it and decide its outcome. */
export interface ClaimedTask {
  id: string;
  type: string;
  params: Record<string, unknown>;
  description: string | null;
  domain: string | null;
  drift_score: number;
  /** The attempt this claim started (attempts after the claim). */
  attempts: number;
  max_attempts: number;
  input_bytes: number;
  /** An escalation plan an earlier attempt stored: the run resumes it. */
  plan: StoredPlan | null;
}

export interface ClaimRequest {
  /** Fencing token: outcome writes must present it. */
  token: string;
  now: number;
  leaseMs: number;
  maxTasks: number;
  /** Cap on the claimed tasks' params + description; the first task is always taken. */
  maxInputBytes: number;
}

export interface ClaimResult {
  claimed: ClaimedTask[];
  /** The earliest future run_after of a waiting task, so the caller can schedule a wake-up. */
  nextRunAfter: number | null;
}

/**
 * Statements here name their partial index (INDEXED BY): without table statistics SQLite guesses
 * costs from the row width, and a wider tasks row (migration 0007) made it prefer the (status,
 * created_at) list index plus a sort of every due row. INDEXED BY also fails loudly if a change
 * ever makes the index unusable.
 *
 * The best due tasks, oldest order key first: a range of the partial due index (no sort of all
 * due rows), at most `maxTasks`, then cut where the running sum of their input bytes passes the
 * cap. `run_after` is tested on its own because a head start (priority) puts a task's order key
 * before its due time. Deterministic, so the rollup and the update select the same rows inside
 * one transaction.
 */
function dueCandidates(req: ClaimRequest): SQL {
  return sql`
    SELECT id FROM (
      SELECT id, row_number() OVER w AS n, sum(input_bytes) OVER w AS bytes
      FROM (SELECT id, sort_key, input_bytes FROM tasks INDEXED BY tasks_due_idx
            WHERE status IN ${CLAIMABLE} AND sort_key <= ${req.now}
              AND (run_after IS NULL OR run_after <= ${req.now})
            ORDER BY sort_key, id LIMIT ${req.maxTasks})
      WINDOW w AS (ORDER BY sort_key, id ROWS UNBOUNDED PRECEDING))
    WHERE n = 1 OR bytes <= ${req.maxInputBytes}`;
}

/** One seek of the partial index over waiting tasks that have a run_after. */
const nextRunAfterQuery = (now: number) => sql`
  SELECT min(run_after) AS next FROM tasks INDEXED BY tasks_waiting_idx WHERE status IN ${CLAIMABLE} AND run_after > ${now}`;

interface RawClaimed extends Omit<ClaimedTask, "params" | "plan"> {
  params: string;
  plan: string | null;
}

/**
 * One pass's claim, in one transaction: the due tasks become `running` with attempts + 1 (the
 * only place attempts grows), the fencing token and a lease. Concurrent passes never take the
 * same task: D1 runs one write transaction at a time and the update re-checks the status.
 */
export async function claimDueTasks(db: Db, req: ClaimRequest): Promise<ClaimResult> {
  const [rollup, update] = transition({
    changes: sql`
      SELECT id, status AS from_status, 'running' AS to_status, attempts + 1 AS attempt, 'claimed' AS message, created_at, locked_at
      FROM tasks WHERE id IN (${dueCandidates(req)}) AND +status IN ${CLAIMABLE}`,
    actor: "dispatcher",
    now: req.now,
    set: sql`attempts = attempts + 1, locked_by = ${req.token}, locked_at = ${req.now},
             lease_expires_at = ${req.now + req.leaseMs}, last_heartbeat = ${req.now}`,
    returning: sql`RETURNING tasks.id AS id, tasks.type AS type, ${PARAMS_WITH_PARENTS} AS params, tasks.description AS description,
      tasks.domain AS domain, tasks.drift_score AS drift_score, tasks.attempts AS attempts, tasks.max_attempts AS max_attempts,
      tasks.input_bytes AS input_bytes, tasks.plan AS plan`,
  });
  const [, claimed, next] = await sqlBatch<[unknown, RawClaimed, { next: number | null }]>(db, [rollup, update, nextRunAfterQuery(req.now)]);
  return {
    claimed: claimed.map((r) => ({ ...r, params: JSON.parse(r.params) as Record<string, unknown>, plan: r.plan === null ? null : (JSON.parse(r.plan) as StoredPlan) })),
    nextRunAfter: next[0]?.next ?? null,
  };
}

/** Heartbeat: extends the lease of the tasks this claim still holds. */
export async function renewLeases(db: Db, ids: string[], token: string, now: number, leaseMs: number): Promise<void> {
  for (const chunk of chunkJsonArray(ids, D1_JSON_BUDGET_BYTES)) {
    await db.run(sql`
      UPDATE tasks SET lease_expires_at = ${now + leaseMs}, last_heartbeat = ${now}, updated_at = ${now}
      WHERE id IN (SELECT value FROM json_each(${chunk.json}))
        AND +status = 'running' AND locked_by = ${token}`);
  }
}

/** Is work due now? The first rows of the due index only: bounded however long the backlog. */
export async function oldestDueTouch(db: Db, now: number): Promise<number | null> {
  const rows = await db.all<{ touched: number | null }>(sql`
    SELECT min(updated_at) AS touched FROM (
      SELECT updated_at FROM tasks INDEXED BY tasks_due_idx
      WHERE status IN ${CLAIMABLE} AND sort_key <= ${now} AND (run_after IS NULL OR run_after <= ${now})
      ORDER BY sort_key, id LIMIT 100)`);
  return rows[0]?.touched ?? null;
}
