import { z } from "zod";
import { defineTask } from "../define-task";

/** Diagnostic: fails retriably while the attempt number ≤ params.fail_times, then succeeds. */
export const flaky = defineTask({
  type: "flaky",
  opens_connections: false,
  description: "Fails (retriably) on its first params.fail_times attempts (default 1), then succeeds",
  params: z.looseObject({ fail_times: z.number().int().min(0).nullish().describe("attempts that fail; default 1") }),
  run(p, ctx) {
    const failTimes = p.fail_times ?? 1;
    if (ctx.attempt <= failTimes) throw new Error(`flaky failure on attempt ${ctx.attempt} of ${failTimes}`);
    return { attempt: ctx.attempt, fail_times: failTimes };
  },
});
