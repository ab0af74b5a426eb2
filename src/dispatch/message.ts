import { z } from "zod";

/**
 * The one queue message: "due work may exist". It never names the tasks to run (the claim in D1
 * picks them), so duplicates and losses are harmless and a message stays a few bytes.
 */
export const taskMessageSchema = z.object({
  kind: z.literal("wake"),
  /** Who sent it, for logs: submit, pass, retry, breaker, reaper, sweeper, dlq. */
  reason: z.string().max(32).optional(),
});

export type TaskMessage = z.infer<typeof taskMessageSchema>;
