import type { Config } from "../config";
import type { TaskOutcome } from "../organism/task-contracts";
import { utf8Bytes } from "../lib/platform-limits";
import type { OutcomeWrite } from "../store/record-outcomes";

export const JITTER = 0.2;

/**
 * Deepest result we store. A dependent that echoes its parents' results nests one level deeper
 * per generation; past SQLite's JSON depth limit (1000) neither the outcome write nor the next
 * claim could run, so such a result fails its task instead.
 */
export const RESULT_MAX_DEPTH = 256;

function depthOf(value: unknown, limit: number, depth = 0): number {
  if (value === null || typeof value !== "object" || depth > limit) return depth;
  let max = depth + 1;
  for (const v of Object.values(value)) max = Math.max(max, depthOf(v, limit, depth + 1));
  return max;
}

/**
 * Delay before attempt `attempt + 1`: RETRY_BASE_S × 2^(attempt−1), capped at RETRY_MAX_S,
 * then ±20 % jitter so a burst of failures does not come back as a burst. `random` ∈ [0, 1).
 */
export function backoffSeconds(attempt: number, baseS: number, maxS: number, random: number): number {
  const exponent = Math.max(0, attempt - 1);
  const raw = Math.min(baseS * 2 ** exponent, maxS);
  return raw * (1 - JITTER + 2 * JITTER * random);
}

export interface ClaimedAttempt {
  id: string;
  attempts: number;
  max_attempts: number;
}

/** Turns the coordinator's verdict on one claimed task into the row to write. */
export function decideOutcome(
  task: ClaimedAttempt,
  outcome: TaskOutcome,
  config: Pick<Config, "RETRY_BASE_S" | "RETRY_MAX_S" | "RESULT_MAX_BYTES">,
  now: number,
  random: number,
): OutcomeWrite {
  if (outcome.ok) {
    // The one result that cannot be stored fails alone and for good: running it again yields the same.
    const bytes = utf8Bytes(JSON.stringify(outcome.result));
    const problem =
      bytes > config.RESULT_MAX_BYTES
        ? `result of ${bytes} bytes exceeds RESULT_MAX_BYTES (${config.RESULT_MAX_BYTES})`
        : depthOf(outcome.result, RESULT_MAX_DEPTH) > RESULT_MAX_DEPTH
          ? `result nests deeper than ${RESULT_MAX_DEPTH} levels`
          : null;
    if (problem) return { id: task.id, status: "failed", result: null, error: problem, run_after: null, message: `failed permanently: ${problem}` };
    return { id: task.id, status: "completed", result: outcome.result, error: null, run_after: null, message: "completed" };
  }
  const result = outcome.result ?? null;
  if (outcome.notRun) {
    // Not a failure of the task (shed, circuit open): retry without spending an attempt, after the
    // time the refusal asked for, else the first backoff step.
    const delayMs = outcome.retryAfterMs ?? Math.round(backoffSeconds(1, config.RETRY_BASE_S, config.RETRY_MAX_S, random) * 1000);
    const message = `not run, attempt not counted, retrying in ${Math.round(delayMs / 1000)}s: ${outcome.error}`;
    return { id: task.id, status: "retry", result, error: outcome.error, run_after: now + delayMs, message, refund_attempt: true };
  }
  if (!outcome.retriable) {
    return { id: task.id, status: "failed", result, error: outcome.error, run_after: null, message: `failed permanently: ${outcome.error}` };
  }
  if (task.attempts >= task.max_attempts) {
    const error = `attempts exhausted (${task.attempts}/${task.max_attempts}): ${outcome.error}`;
    return { id: task.id, status: "failed", result, error, run_after: null, message: error };
  }
  const delayMs = Math.round(backoffSeconds(task.attempts, config.RETRY_BASE_S, config.RETRY_MAX_S, random) * 1000);
  return {
    id: task.id,
    status: "retry",
    result,
    error: outcome.error,
    run_after: now + delayMs,
    message: `attempt ${task.attempts} failed, retrying in ${Math.round(delayMs / 1000)}s: ${outcome.error}`,
  };
}
