import { z } from "zod";
import { defineTask } from "../define-task";

const finiteNumbers = (input: unknown): input is number[] => Array.isArray(input) && input.every((n) => typeof n === "number" && Number.isFinite(n));

/**
 * The only actions an actuator will run; anything else is refused rather than interpreted.
 * `needs` is what params.input must be (checked at submission), `run` the action itself.
 */
const ACTIONS = {
  noop: { needs: null, run: () => ({ action: "noop" }) },
  echo: { needs: null, run: (input: unknown) => ({ action: "echo", output: input ?? null }) },
  uppercase: {
    needs: { check: (input: unknown) => typeof input === "string", message: "uppercase needs params.input as a string" },
    run: (input: unknown) => ({ action: "uppercase", output: (input as string).toUpperCase() }),
  },
  sum: {
    needs: { check: finiteNumbers, message: "sum needs params.input as an array of numbers" },
    run: (input: unknown) => ({ action: "sum", output: (input as number[]).reduce((a, b) => a + b, 0) }),
  },
  sort: {
    needs: { check: finiteNumbers, message: "sort needs params.input as an array of numbers" },
    run: (input: unknown) => ({ action: "sort", output: [...(input as number[])].sort((a, b) => a - b) }),
  },
} as const;

type Action = keyof typeof ACTIONS;
export const SAFE_ACTIONS = Object.keys(ACTIONS) as Action[];

const params = z
  .looseObject({
    action: z.enum(SAFE_ACTIONS as [Action, ...Action[]]).describe("the action to run"),
    input: z.unknown().optional().describe("the action's input: a string for uppercase, an array of numbers for sum and sort"),
  })
  .superRefine((p, ctx) => {
    const needs = ACTIONS[p.action].needs;
    if (needs && !needs.check(p.input)) ctx.addIssue({ code: "custom", path: ["input"], message: needs.message });
  });

export const execute = defineTask({
  type: "execute",
  opens_connections: false,
  description: `Runs one safe action on params.input: ${SAFE_ACTIONS.join(", ")}`,
  params,
  run: (p) => ACTIONS[p.action].run(p.input),
});
