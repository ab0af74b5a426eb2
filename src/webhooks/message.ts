import { z } from "zod";

/** A job on the webhook queue: deliver this task's completion webhook. The task is read at delivery. */
export const webhookMessageSchema = z.object({ kind: z.literal("webhook"), task_id: z.string().uuid() });

export type WebhookMessage = z.infer<typeof webhookMessageSchema>;

export const WEBHOOK_QUEUE = "seedcore-webhooks";
export const WEBHOOK_DEAD_LETTER_QUEUE = "seedcore-webhooks-dlq";
