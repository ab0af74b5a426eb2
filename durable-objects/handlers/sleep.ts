import { invalidParams, type Handler } from "./types";

export const MAX_SLEEP_MS = 10_000;

/** Diagnostic: holds the agent for params.ms, to exercise timeouts, leases and heartbeats. */
export const sleep: Handler = async (task, clock) => {
  const ms = task.params["ms"] ?? 0;
  if (typeof ms !== "number" || !Number.isInteger(ms) || ms < 0 || ms > MAX_SLEEP_MS) {
    return invalidParams(`params.ms must be an integer in 0..${MAX_SLEEP_MS}`);
  }
  await clock.sleep(ms);
  return { success: true, result: { slept_ms: ms } };
};
