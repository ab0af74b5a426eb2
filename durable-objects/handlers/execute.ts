import { invalidParams, type Handler, type HandlerResult } from "./types";

/** The only actions an actuator will run; anything else is refused rather than interpreted. */
const ACTIONS: Record<string, (input: unknown) => HandlerResult> = {
  noop: () => ({ success: true, result: { action: "noop" } }),
  echo: (input) => ({ success: true, result: { action: "echo", output: input ?? null } }),
  uppercase: (input) =>
    typeof input === "string"
      ? { success: true, result: { action: "uppercase", output: input.toUpperCase() } }
      : invalidParams("uppercase needs params.input as a string"),
  sum: (input) =>
    Array.isArray(input) && input.every((n) => typeof n === "number" && Number.isFinite(n))
      ? { success: true, result: { action: "sum", output: (input as number[]).reduce((a, b) => a + b, 0) } }
      : invalidParams("sum needs params.input as an array of numbers"),
  sort: (input) =>
    Array.isArray(input) && input.every((n) => typeof n === "number" && Number.isFinite(n))
      ? { success: true, result: { action: "sort", output: [...(input as number[])].sort((a, b) => a - b) } }
      : invalidParams("sort needs params.input as an array of numbers"),
};

export const SAFE_ACTIONS = Object.keys(ACTIONS);

export const execute: Handler = (task) => {
  const action = task.params["action"];
  if (typeof action !== "string" || !Object.hasOwn(ACTIONS, action)) {
    return invalidParams(`params.action must be one of ${SAFE_ACTIONS.join(", ")}`);
  }
  return (ACTIONS[action] as (input: unknown) => HandlerResult)(task.params["input"]);
};
