import type { Config } from "../config";
import type { TaskOutcome } from "../organism/task-contracts";
import { utf8Bytes } from "../lib/platform-limits";
import type { OutcomeWrite } from "../store/record-outcomes";
import type { RetryPolicy } from "../tasks/define-task";
import { definitionFor } from "../tasks/registry";

/** A type's retry policy: its definition's, else RETRY_BASE_S / RETRY_MAX_S. */
export function retryPolicyOf(type: string, config: Pick<Config, "RETRY_BASE_S" | "RETRY_MAX_S"> & Partial<Pick<Config, "TASK_EXECUTORS">>): RetryPolicy {
  return definitionFor(type, config)?.retry ?? { base_s: config.RETRY_BASE_S, max_s: config.RETRY_MAX_S };
}

/** Seconds one attempt of a type may run: its definition's timeout_s, else TASK_TIMEOUT_S. */
export function timeoutOf(type: string, config: Pick<Config, "TASK_TIMEOUT_S"> & Partial<Pick<Config, "TASK_EXECUTORS">>): number {
  return definitionFor(type, config)?.timeout_s ?? config.TASK_TIMEOUT_S;
}

export const JITTER = 0.2;

/**
 * Deepest result we store. A dependent that echoes its parents' results nests one level deeper
 * per generation; past SQLite's JSON depth limit (1000) neither the outcome write nor the next
 * claim could run, so such a result fails its task instead.
 */
export const RESULT_MAX_DEPTH = 256;

/**
 * Longest error we store, in UTF-8 bytes (a task's code may throw any message). The pass sizes its
 * outcome chunks and statement reserve with OUTCOME_OVERHEAD_BYTES per outcome, which an error and
 * the timeline message quoting it must fit, whatever a handler threw.
 */
export const ERROR_MAX_BYTES = 4096;

/** `text` cut to at most `maxBytes` of UTF-8, saying how much was cut (never splits a character). */
export function capText(text: string, maxBytes = ERROR_MAX_BYTES): string {
  const bytes = utf8Bytes(text);
  if (bytes <= maxBytes) return text;
  const note = ` … (${bytes} bytes, cut)`;
  let kept = text.slice(0, Math.max(0, maxBytes - utf8Bytes(note)));
  while (utf8Bytes(kept) + utf8Bytes(note) > maxBytes) kept = kept.slice(0, -1);
  // A lone high surrogate left at the end would not be valid UTF-16 text.
  if (/[\uD800-\uDBFF]$/.test(kept)) kept = kept.slice(0, -1);
  return kept + note;
}

/** Why a result cannot be stored (too large or too deep), or null. */
function resultProblem(result: unknown, maxBytes: number): string | null {
  const bytes = utf8Bytes(JSON.stringify(result) ?? "");
  if (bytes > maxBytes) return `result of ${bytes} bytes exceeds RESULT_MAX_BYTES (${maxBytes})`;
  if (depthOf(result, RESULT_MAX_DEPTH) > RESULT_MAX_DEPTH) return `result nests deeper than ${RESULT_MAX_DEPTH} levels`;
  return null;
}

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
  config: Pick<Config, "RESULT_MAX_BYTES">,
  now: number,
  random: number,
  policy: RetryPolicy,
): OutcomeWrite {
  const execution = outcome.execution ?? null;
  if (outcome.ok) {
    // The one result that cannot be stored fails alone and for good: running it again yields the same.
    const problem = resultProblem(outcome.result, config.RESULT_MAX_BYTES);
    if (problem) return { id: task.id, status: "failed", result: null, execution, error: problem, run_after: null, message: `failed permanently: ${problem}` };
    return { id: task.id, status: "completed", result: outcome.result ?? null, execution, error: null, run_after: null, message: "completed" };
  }
  // A failure's partial result (an escalation's steps) is kept only if it could be stored; its error is capped.
  const result = outcome.result === undefined || resultProblem(outcome.result, config.RESULT_MAX_BYTES) ? null : outcome.result;
  const error = capText(outcome.error);
  if (outcome.handOff !== undefined) {
    // Not an outcome yet: the endpoint finishes the task through the pull routes; only the lease changes.
    return { id: task.id, status: "running", result: null, execution, error: null, run_after: null, message: error, lease_expires_at: outcome.handOff };
  }
  if (outcome.notRun) {
    // Not a failure of the task (shed, circuit open): retry without spending an attempt, after the
    // time the refusal asked for, else the first backoff step.
    const delayMs = outcome.retryAfterMs ?? Math.round(backoffSeconds(1, policy.base_s, policy.max_s, random) * 1000);
    const message = `not run, attempt not counted, retrying in ${Math.round(delayMs / 1000)}s: ${error}`;
    return { id: task.id, status: "retry", result, execution, error, run_after: now + delayMs, message, refund_attempt: true };
  }
  if (!outcome.retriable) {
    return { id: task.id, status: "failed", result, execution, error, run_after: null, message: `failed permanently: ${error}` };
  }
  if (task.attempts >= task.max_attempts) {
    const exhausted = `attempts exhausted (${task.attempts}/${task.max_attempts}): ${error}`;
    return { id: task.id, status: "failed", result, execution, error: exhausted, run_after: null, message: exhausted };
  }
  // A RetryAfterError names its own time; otherwise the type's backoff.
  const delayMs = outcome.retryAfterMs ?? Math.round(backoffSeconds(task.attempts, policy.base_s, policy.max_s, random) * 1000);
  return {
    id: task.id,
    status: "retry",
    result,
    execution,
    error,
    run_after: now + delayMs,
    message: `attempt ${task.attempts} failed, retrying in ${Math.round(delayMs / 1000)}s: ${error}`,
  };
}
