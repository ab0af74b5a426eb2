import type { Config } from "../config";
import type { TaskOutcome } from "../contracts";
import type { OutcomeWrite } from "../store/record-outcomes";

export const JITTER = 0.2;

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
  config: Pick<Config, "RETRY_BASE_S" | "RETRY_MAX_S">,
  now: number,
  random: number,
): OutcomeWrite {
  if (outcome.ok) {
    return { id: task.id, status: "completed", result: outcome.result, error: null, run_after: null, message: "completed" };
  }
  const result = outcome.result ?? null;
  if (outcome.notRun) {
    // Capacity, not failure: retry after the first backoff step without spending an attempt.
    const delayMs = Math.round(backoffSeconds(1, config.RETRY_BASE_S, config.RETRY_MAX_S, random) * 1000);
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
