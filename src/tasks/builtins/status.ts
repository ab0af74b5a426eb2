import { z } from "zod";
import { defineTask } from "../define-task";

/** Reports that the agent is ready to take work; echoes the domain it was asked about. */
export const status = defineTask({
  type: "status",
  opens_connections: false,
  description: "Reports the agent operational, echoing the task's domain",
  params: z.looseObject({}),
  run: (_params, ctx) => ({ status: "operational", domain: ctx.task.domain, at: new Date(ctx.now()).toISOString() }),
});
