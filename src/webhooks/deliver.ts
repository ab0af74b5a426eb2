import type { Config } from "../config";
import { TERMINAL_STATUSES } from "../db/schema";
import { errorMessage } from "../lib/error-message";
import type { Db } from "../store/db";
import { addToCounter, COUNTER } from "../store/metric-counters";
import { NOT_WAITING, taskToJson } from "../store/task-json";
import { recordWebhookAttempts, tasksById, type WebhookAttempt } from "../store/webhooks";
import { SERVICE_NAME, SERVICE_VERSION } from "../version";
import { callbackUrlProblem } from "./callback-url";
import { webhookMessageSchema } from "./message";
import { signatureHeader } from "./signature";

export interface DeliveryDeps {
  db: Db;
  config: Config;
  /** The outbound fetch; tests inject a receiver. */
  fetch: typeof fetch;
  now: () => number;
}

/** Longest wait between two tries. */
export const WEBHOOK_RETRY_MAX_S = 600;

/** Seconds before try `attempt + 1`: WEBHOOK_RETRY_BASE_S doubling per try, capped. */
export function webhookRetryDelayS(attempt: number, baseS: number): number {
  return Math.min(WEBHOOK_RETRY_MAX_S, Math.round(baseS * 2 ** Math.max(0, attempt - 1)));
}

type Verdict = { ok: true; status: number } | { ok: false; why: string; permanent?: boolean };

/** One POST of the task JSON, signed; never follows a redirect (it could lead to a private address). */
async function post(url: string, body: string, attempt: number, deps: DeliveryDeps): Promise<Verdict> {
  const { config } = deps;
  const problem = callbackUrlProblem(url, config.WEBHOOK_ALLOW_LOOPBACK);
  if (problem) return { ok: false, why: `not sent: callback_url ${problem}`, permanent: true };
  if (!config.WEBHOOK_SECRET) return { ok: false, why: "not sent: WEBHOOK_SECRET is not set" };
  const headers = {
    "content-type": "application/json",
    "user-agent": `${SERVICE_NAME}/${SERVICE_VERSION}`,
    "seedcore-signature": await signatureHeader(config.WEBHOOK_SECRET, body, Math.floor(deps.now() / 1000)),
    "seedcore-delivery-attempt": String(attempt),
  };
  try {
    const res = await deps.fetch(url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(config.WEBHOOK_TIMEOUT_S * 1000) });
    await res.body?.cancel(); // the answer's body is not ours to wait for
    return res.status >= 200 && res.status < 300 ? { ok: true, status: res.status } : { ok: false, why: String(res.status) };
  } catch (err) {
    return { ok: false, why: `failed: ${errorMessage(err)}` };
  }
}

/**
 * The webhook queue's consumer. Each message is one task's webhook: the task is read now (so the
 * body is its current JSON), posted once, and the attempt written to its timeline. A failure is
 * retried by the queue with backoff; after WEBHOOK_MAX_RETRIES it goes to the DLQ. The task
 * itself is terminal already, so no answer of the receiver, or none, can delay or fail it.
 */
export async function deliverWebhooks(batch: MessageBatch<unknown>, deps: DeliveryDeps): Promise<void> {
  const jobs = batch.messages.flatMap((message) => {
    const parsed = webhookMessageSchema.safeParse(message.body);
    if (parsed.success) return [{ message, taskId: parsed.data.task_id }];
    console.warn(`webhook message ${message.id} is malformed, dropped: ${parsed.error.message}`);
    message.ack();
    return [];
  });
  if (jobs.length === 0) return;
  let tasks;
  try {
    tasks = new Map((await tasksById(deps.db, jobs.map((j) => j.taskId))).map((t) => [t.id, t]));
  } catch (err) {
    console.error("webhook batch: tasks could not be read; retrying", err);
    for (const { message } of jobs) message.retry({ delaySeconds: 5 });
    return;
  }
  const attempts: WebhookAttempt[] = [];
  const settle: (() => void)[] = [];
  await Promise.all(
    jobs.map(async ({ message, taskId }) => {
      const task = tasks.get(taskId);
      // Gone, no callback, or running again (its next end sends its own webhook): nothing to deliver.
      if (!task?.callbackUrl || !TERMINAL_STATUSES.includes(task.status)) return settle.push(() => message.ack());
      const verdict = await post(task.callbackUrl, JSON.stringify(taskToJson(task, NOT_WAITING)), message.attempts, deps);
      if (verdict.ok) {
        attempts.push({ id: taskId, message: `webhook ${verdict.status}`, state: "delivered" });
        return settle.push(() => message.ack());
      }
      if (verdict.permanent) {
        attempts.push({ id: taskId, message: `webhook ${verdict.why}`, state: "failed" });
        return settle.push(() => message.ack());
      }
      const last = message.attempts > deps.config.WEBHOOK_MAX_RETRIES;
      const delaySeconds = webhookRetryDelayS(message.attempts, deps.config.WEBHOOK_RETRY_BASE_S);
      const next = last ? "no tries left" : `retry ${message.attempts + 1} in ${delaySeconds}s`;
      attempts.push({ id: taskId, message: `webhook ${verdict.why}, ${next}`, state: "sent" });
      settle.push(() => message.retry({ delaySeconds }));
    }),
  );
  try {
    await recordWebhookAttempts(deps.db, attempts, deps.now());
  } catch (err) {
    // Delivered is delivered: a missing timeline entry is better than posting twice.
    console.error("webhook attempts could not be recorded", err);
  }
  for (const s of settle) s();
}

/** The webhook DLQ's consumer: the webhook failed for good; say so in the timeline and count it. */
export async function handleWebhookDeadLetters(batch: MessageBatch<unknown>, deps: Pick<DeliveryDeps, "db" | "config" | "now">): Promise<void> {
  const tries = deps.config.WEBHOOK_MAX_RETRIES + 1;
  const ids = batch.messages.flatMap((m) => {
    const parsed = webhookMessageSchema.safeParse(m.body);
    return parsed.success ? [parsed.data.task_id] : [];
  });
  try {
    const attempts = ids.map((id): WebhookAttempt => ({ id, message: `webhook failed after ${tries} tries (dead-lettered)`, state: "failed" }));
    await recordWebhookAttempts(deps.db, attempts, deps.now());
    await addToCounter(deps.db, COUNTER.webhooksDeadLettered, batch.messages.length);
    batch.ackAll();
  } catch (err) {
    console.error("webhook dead-letter pass failed; will be redelivered", err);
    batch.retryAll({ delaySeconds: 5 });
  }
}
