import { z } from "zod";

export const MAX_IDS_PER_MESSAGE = 100;

/** The one queue message: the ids of a submitted batch (the consumer flattens them). */
export const taskMessageSchema = z.object({
  task_ids: z.array(z.string().uuid()).min(1).max(MAX_IDS_PER_MESSAGE),
});

export type TaskMessage = z.infer<typeof taskMessageSchema>;
