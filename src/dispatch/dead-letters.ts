import type { Db } from "../store/db";
import { markDeadLettered } from "../store/dead-letter";
import { taskMessageSchema } from "./message";

export const DEAD_LETTER_QUEUE = "seedcore-tasks-dlq";

/** The DLQ consumer: fails the tasks of messages the main queue gave up on, then acks. */
export async function handleDeadLetters(batch: MessageBatch<unknown>, db: Db, now: number): Promise<void> {
  const ids = new Set<string>();
  for (const message of batch.messages) {
    const parsed = taskMessageSchema.safeParse(message.body);
    if (parsed.success) for (const id of parsed.data.task_ids) ids.add(id);
  }
  try {
    if (ids.size > 0) await markDeadLettered(db, [...ids], now);
    batch.ackAll();
  } catch (err) {
    console.error("dead-letter pass failed; will be redelivered", err);
    batch.retryAll({ delaySeconds: 5 });
  }
}
