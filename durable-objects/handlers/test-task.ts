import type { Handler } from "./types";

/** Echo: what went in comes back, so end-to-end tests can check the round trip. */
export const testTask: Handler = (task) => ({
  success: true,
  result: { echo: task.params, description: task.description, task_type: task.type },
});
