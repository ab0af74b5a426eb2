import type { Config } from "../config";
import type { Admission, RunTasks } from "../clients/organism-client";
import type { TaskEnvelope, TaskOutcome } from "../contracts";
import { CircuitOpenError } from "../lib/circuit-breaker";
import { errorMessage } from "../lib/error-message";
import { withTimeout } from "../lib/timeout";
import { claimDueTasks, renewLeases, type ClaimedTask, type ClaimResult } from "../store/claim-due-tasks";
import type { Db } from "../store/db";
import { recordOutcomes } from "../store/record-outcomes";
import { decideOutcome } from "./retry-policy";
import type { PassLimits } from "./pass-limits";

export interface PassDeps {
  db: Db;
  config: Config;
  /** Asked before every claim: the coordinator's circuit breaker admits one call, or says how long to stay away. */
  admit: () => Admission;
  now: () => number;
  random: () => number;
  newToken: () => string;
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
  const { id, type, params, description, domain, drift_score, attempts } = task;
  return { id, type, params, description, domain, drift_score, attempt: attempts };
}

const earliest = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));

/**
 * Calls the coordinator under DISPATCH_TIMEOUT_S while renewing the lease every HEARTBEAT_S.
 * An open circuit means the tasks were never sent: they are "not run". Any other thrown error
 * or a timeout is a retriable failure of every task, and counts as an attempt.
 */
async function runWithLease(claimed: ClaimedTask[], token: string, run: RunTasks, deps: PassDeps): Promise<Map<string, TaskOutcome>> {
  const { config } = deps;
  const ids = claimed.map((t) => t.id);
  const heartbeat = setInterval(() => {
    renewLeases(deps.db, ids, token, deps.now(), config.TASK_LEASE_S * 1000).catch((err) => console.warn("lease renewal failed", err));
  }, config.HEARTBEAT_S * 1000);
  try {
    const outcomes = await withTimeout(run(claimed.map(toEnvelope)), config.DISPATCH_TIMEOUT_S * 1000, "coordinator");
    return new Map(outcomes.map((o) => [o.id, o]));
  } catch (err) {
    const error = errorMessage(err);
    const notRun = err instanceof CircuitOpenError ? { notRun: true as const, retryAfterMs: err.retryAfterMs } : {};
    return new Map(ids.map((id) => [id, { id, ok: false, retriable: true, error, ...notRun }]));
  } finally {
    clearInterval(heartbeat);
  }
}

/**
 * One dispatcher pass: claim the best due tasks (bounded by count and bytes), run them through
 * the coordinator, record every outcome (fenced by the claim's token, chunked to D1's limits).
 */
export async function runPass(deps: PassDeps, limits: PassLimits): Promise<PassResult> {
  const admission = deps.admit();
  if (!admission.admitted) return { kind: "refused", retryAfterMs: admission.retryAfterMs };
  const token = deps.newToken();
  let claim: ClaimResult;
  try {
    claim = await claimDueTasks(deps.db, { token, now: deps.now(), leaseMs: deps.config.TASK_LEASE_S * 1000, ...limits });
  } catch (err) {
    admission.release();
    throw err;
  }
  const { claimed, nextRunAfter } = claim;
  if (claimed.length === 0) {
    admission.release(); // frees a half-open probe slot: no call was made
    return { kind: "ran", claimed: 0, full: false, nextDueAt: nextRunAfter };
  }

  const outcomes = await runWithLease(claimed, token, admission.run, deps);
  const now = deps.now();
  const writes = claimed.map((task) =>
    decideOutcome(
      task,
      outcomes.get(task.id) ?? { id: task.id, ok: false, retriable: true, error: "coordinator returned no outcome" },
      deps.config,
      now,
      deps.random(),
    ),
  );
  const written = await recordOutcomes(deps.db, token, writes, now);
  const retryAt = written.reduce<number | null>((at, w) => (w.status === "retry" ? earliest(at, w.run_after) : at), null);
  const claimedBytes = claimed.reduce((n, t) => n + t.input_bytes, 0);
  return {
    kind: "ran",
    claimed: claimed.length,
    // A keyed task's outcome frees its key's slot: look again, as after a full pass.
    full: claimed.length >= limits.maxTasks || claimedBytes + limits.maxTaskInputBytes > limits.maxInputBytes || claim.keyed,
    nextDueAt: earliest(nextRunAfter, retryAt),
  };
}
