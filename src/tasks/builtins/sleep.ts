import { z } from "zod";
import { defineTask } from "../define-task";

export const MAX_SLEEP_MS = 10_000;

/** Diagnostic: holds the agent for params.ms, to exercise timeouts, leases and heartbeats; aborts with the signal. */
export const sleep = defineTask({
  type: "sleep",
  opens_connections: false,
  description: `Waits params.ms (0..${MAX_SLEEP_MS}, default 0) milliseconds`,
  params: z.looseObject({ ms: z.number().int().min(0).max(MAX_SLEEP_MS).nullish().describe("milliseconds to wait; default 0") }),
  async run(p, ctx) {
    const ms = p.ms ?? 0;
    await ctx.sleep(ms);
    return { slept_ms: ms };
  },
});
