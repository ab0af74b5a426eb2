import { z } from "zod";
import { defineTask } from "../define-task";
import { PermanentError } from "../errors";
import { queryParam, queryText } from "./query-text";

const MAX_STEPS = 16;

/** Splits a goal into ordered steps at "then", "and", ";" and commas; deterministic, no model. */
export const plan = defineTask({
  type: "plan",
  opens_connections: false,
  description: "Splits params.goal (else params.query or the description) into ordered steps",
  params: z.looseObject({
    goal: z.string().optional().catch(undefined).describe("the goal to split; default: params.query, else the description"),
    query: queryParam,
  }),
  run(p, ctx) {
    const goal = typeof p.goal === "string" ? p.goal : queryText(p, ctx.task);
    const steps = goal
      .split(/\bthen\b|\band\b|;|,/i)
      .map((s) => s.trim())
      .filter((s) => s !== "")
      .slice(0, MAX_STEPS)
      .map((description, i) => ({ step: i + 1, description }));
    if (steps.length === 0) throw new PermanentError("invalid params: nothing to plan (give params.goal or a description)");
    return { goal, steps };
  },
});
