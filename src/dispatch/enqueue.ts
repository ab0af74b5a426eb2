import { MAX_IDS_PER_MESSAGE, type TaskMessage } from "./message";

/** Queues accept at most 12 h of delay; later tasks are re-sent by the consumer when they arrive early. */
export const MAX_QUEUE_DELAY_S = 12 * 60 * 60;

export interface Dispatchable {
  id: string;
  run_after: number | null;
}

function delaySecondsFor(runAfter: number | null, now: number): number {
  if (runAfter === null || runAfter <= now) return 0;
  return Math.min(MAX_QUEUE_DELAY_S, Math.ceil((runAfter - now) / 1000));
}

/**
 * Sends the ids as few messages as possible: one per (delay, ≤100 ids) group, in one sendBatch.
 * Throws if the queue refuses; callers that must not fail (submit) leave the rows `queued`
 * for the sweeper instead.
 */
export async function enqueueTasks(queue: Queue<TaskMessage>, tasks: Dispatchable[], now: number): Promise<void> {
  if (tasks.length === 0) return;
  const groups = new Map<number, string[]>();
  for (const t of tasks) {
    const delay = delaySecondsFor(t.run_after, now);
    const ids = groups.get(delay) ?? [];
    ids.push(t.id);
    groups.set(delay, ids);
  }
  const messages: MessageSendRequest<TaskMessage>[] = [];
  for (const [delaySeconds, ids] of groups) {
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_MESSAGE) {
      const body = { task_ids: ids.slice(i, i + MAX_IDS_PER_MESSAGE) };
      messages.push(delaySeconds > 0 ? { body, delaySeconds } : { body });
    }
  }
  await queue.sendBatch(messages);
}

/**
 * For callers that have already committed the rows (submit, run): a failed send is logged, not
 * raised — the rows are `queued` in D1 and the sweeper re-sends them, so nothing is lost.
 */
export async function enqueueOrLeaveToSweeper(queue: Queue<TaskMessage>, tasks: Dispatchable[], now: number): Promise<void> {
  try {
    await enqueueTasks(queue, tasks, now);
  } catch (err) {
    console.error("queue send failed; the sweeper will re-send these tasks", err);
  }
}
