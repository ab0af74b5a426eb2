import type { Config } from "../config";
import { errorMessage } from "../lib/error-message";
import { withTimeout } from "../lib/timeout";
import type { TaskEnvelope, TaskOutcome } from "../organism/task-contracts";
import { claimDueTasks, renewLeases, type ClaimedTask, type ClaimRequest, type ClaimResult } from "../store/claim-due-tasks";
import type { Db } from "../store/db";
import { failUnclaimable, nextDueTask } from "../store/fail-unclaimable";
import { recordOutcomes, type RecordedOutcomes } from "../store/record-outcomes";
import { taskPlanStore } from "../store/task-plans";
import { decideOutcome } from "./retry-policy";
import { PASS_GRACE_MS, type PassLimits } from "./pass-limits";
import type { PlanStore } from "./run-plans";

/** Runs a pass's claimed tasks (production: `executeTasks`, the decide-then-organs path). */
export type RunTasks = (pass: string, tasks: TaskEnvelope[], plans: PlanStore) => Promise<TaskOutcome[]>;

/**
 * A pass asks before it claims anything: either a run it may make (or `release` unused when
 * nothing was claimed), or how long the coordinator's breaker wants callers to stay away.
 */
export type PassAdmission = { admitted: true; run: RunTasks; release(): void } | { admitted: false; retryAfterMs: number };

export interface PassDeps {
  db: Db;
  config: Config;
  /** Asked before every claim: the coordinator's circuit breaker admits one decision, or says how long to stay away. */
  admit: () => PassAdmission;
  now: () => number;
  random: () => number;
  newToken: () => string;
  /** After the outcomes commit: waiters, webhooks, up to `maxRounds` further dependency rounds; how many dependents were queued. */
  followUp: (recorded: RecordedOutcomes, maxRounds: number) => Promise<number>;
}

export type PassResult =
  /** The breaker refused: nothing was claimed. */
  | { kind: "refused"; retryAfterMs: number }
  | {
      kind: "ran";
      claimed: number;
      /** The pass hit a cap, or freed concurrency-key slots, so more due work probably waits. */
      full: boolean;
      /** When the next waiting task becomes due (a retry this pass wrote, or a delayed task), if any. */
      nextDueAt: number | null;
    };

function toEnvelope(task: ClaimedTask): TaskEnvelope {
  const { id, type, params, description, domain, drift_score, attempts, plan } = task;
  return { id, type, params, description, domain, drift_score, attempt: attempts, plan };
}

const earliest = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));

/**
 * Runs the tasks within DISPATCH_TIMEOUT_S while renewing their lease every HEARTBEAT_S. The run
 * itself gives back the attempt of tasks that never ran; a run that throws or overruns is a
 * retriable failure of every task, and counts as an attempt.
 */
async function runWithLease(claimed: ClaimedTask[], token: string, run: RunTasks, deps: PassDeps): Promise<Map<string, TaskOutcome>> {
  const { config } = deps;
  const ids = claimed.map((t) => t.id);
  const heartbeat = setInterval(() => {
    renewLeases(deps.db, ids, token, deps.now(), config.TASK_LEASE_S * 1000).catch((err) => console.warn("lease renewal failed", err));
  }, config.HEARTBEAT_S * 1000);
  try {
    const plans = taskPlanStore(deps.db, token, deps.now);
    const outcomes = await withTimeout(run(token, claimed.map(toEnvelope), plans), config.DISPATCH_TIMEOUT_S * 1000 + PASS_GRACE_MS, "pass");
    return new Map(outcomes.map((o) => [o.id, o]));
  } catch (err) {
    const error = errorMessage(err);
    return new Map(ids.map((id) => [id, { id, ok: false, retriable: true, error }]));
  } finally {
    clearInterval(heartbeat);
  }
}

/**
 * The claim, split when it fails: D1 may be refusing one task (a value over its limit built from
 * it), so the claim is tried again with half as many tasks, down to one. Then the next task is
 * claimed by id, so that a failure now is its own: it fails with the error, and the next pass
 * claims the rest. A failure no task explains (nothing due, or the failing write fails too: D1 is
 * down) propagates. The happy path is the one claim statement.
 */
async function claimOrSplit(db: Db, req: ClaimRequest): Promise<{ claim: ClaimResult; split: boolean } | { unclaimable: RecordedOutcomes }> {
  let failure: unknown;
  for (let maxTasks = req.maxTasks; ; maxTasks = Math.ceil(maxTasks / 2)) {
    try {
      return { claim: await claimDueTasks(db, { ...req, maxTasks }), split: failure !== undefined };
    } catch (err) {
      console.warn(`claim of ${maxTasks} task(s) failed`, err);
      failure = err;
      if (maxTasks === 1) break;
    }
  }
  const next = await nextDueTask(db, req.now);
  if (next === null) throw failure;
  try {
    return { claim: await claimDueTasks(db, { ...req, maxTasks: 1, only: next }), split: true };
  } catch (err) {
    const unclaimable = await failUnclaimable(db, next, req.now, errorMessage(err));
    // Null: a concurrent pass took or failed the task meanwhile; the next pass looks again.
    return unclaimable ? { unclaimable } : { claim: { claimed: [], nextRunAfter: null, keyed: false }, split: true };
  }
}

/**
 * One dispatcher pass: claim the best due tasks (bounded by count and bytes), run them (the
 * coordinator decides, the organs run), record every outcome (fenced by the claim's token,
 * chunked to D1's limits).
 */
export async function runPass(deps: PassDeps, limits: PassLimits): Promise<PassResult> {
  const admission = deps.admit();
  if (!admission.admitted) return { kind: "refused", retryAfterMs: admission.retryAfterMs };
  const token = deps.newToken();
  let claimed: ClaimedTask[];
  let claim: ClaimResult;
  let split: boolean;
  try {
    const { maxTasks, maxInputBytes } = limits;
    const taken = await claimOrSplit(deps.db, { token, now: deps.now(), leaseMs: deps.config.TASK_LEASE_S * 1000, maxTasks, maxInputBytes });
    if ("unclaimable" in taken) {
      admission.release();
      await deps.followUp(taken.unclaimable, limits.followUpRounds);
      // The tasks behind the failed one are due: the next pass takes them.
      return { kind: "ran", claimed: 0, full: true, nextDueAt: null };
    }
    ({ claim, split } = taken);
    claimed = claim.claimed;
  } catch (err) {
    admission.release();
    throw err;
  }
  const { nextRunAfter } = claim;
  if (claimed.length === 0) {
    admission.release(); // frees a half-open probe slot: no call was made
    return { kind: "ran", claimed: 0, full: split, nextDueAt: nextRunAfter };
  }

  const outcomes = await runWithLease(claimed, token, admission.run, deps);
  const now = deps.now();
  const writes = claimed.map((task) =>
    decideOutcome(
      task,
      outcomes.get(task.id) ?? { id: task.id, ok: false, retriable: true, error: "the run returned no outcome" },
      deps.config,
      now,
      deps.random(),
    ),
  );
  const withDependents = new Set(claimed.filter((t) => t.has_dependents === 1).map((t) => t.id));
  const recorded = await recordOutcomes(deps.db, token, writes, now, withDependents);
  const released = await deps.followUp(recorded, limits.followUpRounds);
  const { written } = recorded;
  const retryAt = written.reduce<number | null>((at, w) => (w.status === "retry" ? earliest(at, w.run_after) : at), null);
  const claimedBytes = claimed.reduce((n, t) => n + t.input_bytes, 0);
  return {
    kind: "ran",
    claimed: claimed.length,
    // Released dependents are due now, a keyed task's outcome frees its key's slot, and a split
    // claim left the task that failed it due: look again at once.
    full: split || released > 0 || claim.keyed || claimed.length >= limits.maxTasks || claimedBytes + limits.maxTaskInputBytes > limits.maxInputBytes,
    nextDueAt: earliest(nextRunAfter, retryAt),
  };
}
