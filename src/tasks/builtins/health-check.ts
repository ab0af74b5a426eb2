import { z } from "zod";
import { defineTask } from "../define-task";

/** Liveness of the agent itself: if this runs, the organ and its storage answered. */
export const healthCheck = defineTask({
  type: "health_check",
  opens_connections: false,
  description: "Reports the agent healthy, with the time it checked",
  params: z.looseObject({}),
  run: (_params, ctx) => ({ status: "healthy", checked_at: new Date(ctx.now()).toISOString() }),
});
