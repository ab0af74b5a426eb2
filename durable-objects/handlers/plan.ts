import { queryText, type Handler } from "./types";

const MAX_STEPS = 16;

/** Splits a goal into ordered steps at "then", "and", ";" and commas; deterministic, no model. */
export const plan: Handler = (task) => {
  const goal = typeof task.params["goal"] === "string" ? (task.params["goal"] as string) : queryText(task);
  const steps = goal
    .split(/\bthen\b|\band\b|;|,/i)
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .slice(0, MAX_STEPS)
    .map((description, i) => ({ step: i + 1, description }));
  if (steps.length === 0) return { success: false, error: "invalid params: nothing to plan (give params.goal or a description)", retry: false };
  return { success: true, result: { goal, steps } };
};
