import { invalidParams, type Handler } from "./types";

/** Diagnostic: fails retriably while the attempt number ≤ params.fail_times, then succeeds. */
export const flaky: Handler = (task) => {
  const failTimes = task.params["fail_times"] ?? 1;
  if (typeof failTimes !== "number" || !Number.isInteger(failTimes) || failTimes < 0) {
    return invalidParams("params.fail_times must be a non-negative integer");
  }
  if (task.attempt <= failTimes) {
    return { success: false, error: `flaky failure on attempt ${task.attempt} of ${failTimes}`, retry: true };
  }
  return { success: true, result: { attempt: task.attempt, fail_times: failTimes } };
};
