import type { Db } from "../store/db";
import { oldestDueTouch, type TypeFilter } from "../store/claim-due-tasks";
import { addToCounter, COUNTER } from "../store/metric-counters";
import type { TaskMessage } from "./message";
import { sendWakeup } from "./wakeups";

export const DEAD_LETTER_QUEUE = "seedcore-tasks-dlq";

/**
 * The DLQ consumer. A dead wake-up never fails a task (a poison task fails by its own attempts):
 * it is counted, and if due work exists a fresh wake-up takes its place.
 */
export async function handleDeadLetters(batch: MessageBatch<unknown>, db: Db, queue: Queue<TaskMessage>, now: number, types?: TypeFilter): Promise<void> {
  try {
    console.warn(`${batch.messages.length} wake-up(s) dead-lettered after the queue's retries`);
    await addToCounter(db, COUNTER.wakeupsDeadLettered, batch.messages.length);
    if ((await oldestDueTouch(db, now, types)) !== null) await sendWakeup(queue, "dlq");
    batch.ackAll();
  } catch (err) {
    console.error("dead-letter pass failed; will be redelivered", err);
    batch.retryAll({ delaySeconds: 5 });
  }
}
