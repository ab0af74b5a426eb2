import { z } from "zod";
import { defineTask } from "../define-task";

/**
 * Acknowledges a side effect keyed by the task id: a redelivered task reports the same key,
 * so a real effect behind it can be made idempotent.
 */
export const sideEffect = defineTask({
  type: "side_effect",
  opens_connections: false,
  description: "Acknowledges params.effect with the task id as its idempotency key",
  params: z.looseObject({ effect: z.unknown().optional().describe("what to apply") }),
  run: (p, ctx) => ({ effect: p.effect ?? null, idempotency_key: ctx.task.id, applied: true }),
});
