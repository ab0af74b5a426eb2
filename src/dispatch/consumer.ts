import type { PassAdmission, RunTasks } from "./pass";
import { drainDueWork, type DrainDeps, type DrainReport } from "./drain";
import { taskMessageSchema, type TaskMessage } from "./message";
import { JITTER } from "./retry-policy";
import { scheduleWakeup, sendWakeup } from "./wakeups";

export interface DispatchDeps extends DrainDeps {
  queue: Queue<TaskMessage>;
}

/** Redelivery delay when the drain itself failed (D1 down, …): wake-ups are idempotent. */
const DRAIN_FAILED_RETRY_S = 5;

/** An admission that always lets the call through (no breaker): for tests and tools. */
export function alwaysAdmit(run: RunTasks): () => PassAdmission {
  return () => ({ admitted: true, run, release: () => undefined });
}

/**
 * What comes after a drain: more due work → wake again now; a refusing breaker → wake when it
 * may admit (one-sided jitter spreads isolates, never earlier); a waiting task → wake when due.
 */
async function wakeFollowUp(report: DrainReport, deps: DispatchDeps): Promise<void> {
  const now = deps.now();
  if (report.refusedForMs !== null) {
    const delaySeconds = Math.max(1, Math.ceil((report.refusedForMs / 1000) * (1 + JITTER * deps.random())));
    console.warn(`coordinator circuit open: claiming nothing, waking again in ${delaySeconds}s`);
    await sendWakeup(deps.queue, "breaker", delaySeconds);
    return;
  }
  if (report.leftDueWork && !report.handedOver) await sendWakeup(deps.queue, "pass");
  if (report.nextDueAt !== null) await scheduleWakeup(deps.queue, "retry", report.nextDueAt, now);
}

/**
 * The dispatcher's queue handler. Every message only says "due work may exist", so the batch is
 * one signal: drain what is due, send the follow-up wake-ups, then ack each message (malformed
 * ones too, after a warning). If the drain fails, every message is retried: tasks it already
 * claimed are rescued by the reaper when their lease ends.
 */
export async function dispatchBatch(batch: MessageBatch<unknown>, deps: DispatchDeps): Promise<void> {
  for (const message of batch.messages) {
    const parsed = taskMessageSchema.safeParse(message.body);
    if (!parsed.success) console.warn(`queue message ${message.id} is not a wake-up (treated as one): ${parsed.error.message}`);
  }
  try {
    const report = await drainDueWork({ handOver: () => sendWakeup(deps.queue, "pass"), ...deps });
    await wakeFollowUp(report, deps);
    for (const message of batch.messages) message.ack();
  } catch (err) {
    console.error("dispatch failed; the wake-ups will be redelivered", err);
    for (const message of batch.messages) message.retry({ delaySeconds: DRAIN_FAILED_RETRY_S });
  }
}
