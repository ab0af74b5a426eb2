import { QUEUE_LIMITS } from "../lib/platform-limits";
import type { TaskMessage } from "./message";

export type WakeReason = "submit" | "run" | "pass" | "retry" | "breaker" | "reaper" | "sweeper" | "dlq" | "resume" | "schedule";

/** Seconds from `now` until `at`, within what a queue delay allows (later work is the alarm's). */
export function wakeupDelaySeconds(at: number | null, now: number): number {
  if (at === null || at <= now) return 0;
  return Math.min(QUEUE_LIMITS.delaySeconds, Math.ceil((at - now) / 1000));
}

/** One wake-up message; throws if the queue refuses it. */
export async function sendWakeup(queue: Queue<TaskMessage>, reason: WakeReason, delaySeconds = 0): Promise<void> {
  const body: TaskMessage = { kind: "wake", reason };
  await queue.send(body, delaySeconds > 0 ? { delaySeconds } : undefined);
}

/**
 * For callers whose rows are already committed (submit, run, reaper): a failed send is logged,
 * not raised. The rows are in D1, and the maintenance alarm wakes the dispatcher for due work.
 */
export async function wakeOrLeaveToSweeper(queue: Queue<TaskMessage>, reason: WakeReason, delaySeconds = 0): Promise<void> {
  try {
    await sendWakeup(queue, reason, delaySeconds);
  } catch (err) {
    console.error(`wake-up (${reason}) could not be sent; the sweeper will wake the dispatcher`, err);
  }
}

/** The earliest delayed wake-up this isolate has sent that is still to come. */
let pendingWakeAt: number | null = null;

/**
 * A wake-up for work that becomes due at `at` (a retry, a delayed task). Skipped when this isolate
 * already sent one due no later: that wake-up's pass will schedule the next. Per isolate only; a
 * duplicate from another isolate costs one empty claim.
 */
export async function scheduleWakeup(queue: Queue<TaskMessage>, reason: WakeReason, at: number, now: number): Promise<void> {
  const delaySeconds = wakeupDelaySeconds(at, now);
  const wakeAt = now + delaySeconds * 1000;
  if (pendingWakeAt !== null && pendingWakeAt > now && pendingWakeAt <= wakeAt) return;
  await sendWakeup(queue, reason, delaySeconds);
  if (delaySeconds > 0) pendingWakeAt = wakeAt;
}

/** Tests only: forget the pending wake-up. */
export function resetPendingWakeup(): void {
  pendingWakeAt = null;
}
