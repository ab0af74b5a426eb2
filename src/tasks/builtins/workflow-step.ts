import { z } from "zod";
import { defineTask } from "../define-task";

/** Marks one named workflow step done; the workflow's state lives with the caller. */
export const workflowStep = defineTask({
  type: "workflow_step",
  opens_connections: false,
  description: "Marks the workflow step params.step done",
  params: z.looseObject({ step: z.unknown().optional().describe("the step's name or number") }),
  run: (p, ctx) => ({ step: p.step ?? null, status: "done", at: new Date(ctx.now()).toISOString() }),
});
