import type { Config } from "../config";
import { RPC_LIMITS, WORKER_MEMORY_BYTES, withMargin } from "../lib/platform-limits";
import { MAX_TASK_INPUT_BYTES } from "../schemas/task";

/** How much one pass may claim: what it can run and hold and record afterwards. */
export interface PassLimits {
  maxTasks: number;
  /** Cap on the claimed tasks' params + description (the claim always takes at least one task). */
  maxInputBytes: number;
  /** The largest input one task can have (validation's limit), to tell whether a pass was full. */
  maxTaskInputBytes: number;
}

/** Enough to amortise a pass's fixed cost (two D1 round trips, a few RPCs) over many small tasks. */
export const PASS_MAX_TASKS = 500;
/** Params travel in the organ requests: a few MiB, well under the RPC limit. */
export const PASS_MAX_INPUT_BYTES = 4 * 1024 * 1024;
/**
 * A pass holds all its results until it records them, each up to RESULT_MAX_BYTES: they must fit
 * well inside the isolate's memory (organ responses are split to the RPC limit on their own).
 */
export const PASS_RESULT_BUDGET_BYTES = Math.floor(WORKER_MEMORY_BYTES * 0.375);

/** 192 tasks at the default RESULT_MAX_BYTES of 256 KiB; more when results are capped lower. */
export function passLimits(config: Pick<Config, "RESULT_MAX_BYTES">): PassLimits {
  return {
    maxTasks: Math.max(1, Math.min(PASS_MAX_TASKS, Math.floor(PASS_RESULT_BUDGET_BYTES / config.RESULT_MAX_BYTES))),
    maxInputBytes: Math.min(PASS_MAX_INPUT_BYTES, withMargin(RPC_LIMITS.messageBytes)),
    maxTaskInputBytes: MAX_TASK_INPUT_BYTES,
  };
}
