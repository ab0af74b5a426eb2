import type { Handler } from "./types";

/** Marks one named workflow step done; the workflow's state lives with the caller. */
export const workflowStep: Handler = (task, clock) => ({
  success: true,
  result: { step: task.params["step"] ?? null, status: "done", at: new Date(clock.now()).toISOString() },
});
