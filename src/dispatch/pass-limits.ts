import type { Config } from "../config";
import { RPC_LIMITS, withMargin } from "../lib/platform-limits";
import { MAX_TASK_INPUT_BYTES } from "../schemas/task";

/** How much one pass may claim: what it can run in one coordinator call and record afterwards. */
export interface PassLimits {
  maxTasks: number;
  /** Cap on the claimed tasks' params + description (the claim always takes at least one task). */
  maxInputBytes: number;
  /** The largest input one task can have (validation's limit), to tell whether a pass was full. */
  maxTaskInputBytes: number;
}

/** Enough to amortise a pass's fixed cost (two D1 round trips, one RPC) over many small tasks. */
export const PASS_MAX_TASKS = 500;
/** Params travel in the coordinator request: keep it a few MiB, well under the RPC limit. */
export const PASS_MAX_INPUT_BYTES = 4 * 1024 * 1024;

/**
 * Every result of a pass comes back in one RPC response, and each may be RESULT_MAX_BYTES, so
 * the count is capped to fit them all in the RPC limit (96 tasks at the default 256 KiB).
 */
export function passLimits(config: Pick<Config, "RESULT_MAX_BYTES">): PassLimits {
  const byResults = Math.floor(withMargin(RPC_LIMITS.messageBytes) / config.RESULT_MAX_BYTES);
  return {
    maxTasks: Math.max(1, Math.min(PASS_MAX_TASKS, byResults)),
    maxInputBytes: PASS_MAX_INPUT_BYTES,
    maxTaskInputBytes: MAX_TASK_INPUT_BYTES,
  };
}
