import type { Handler } from "./types";

/**
 * Acknowledges a side effect keyed by the task id: a redelivered task reports the same key,
 * so a real effect behind it can be made idempotent.
 */
export const sideEffect: Handler = (task) => ({
  success: true,
  result: { effect: task.params["effect"] ?? null, idempotency_key: task.id, applied: true },
});
