import type { Config } from "../config";
import { TERMINAL_STATUSES, type WebhookState } from "../db/schema";
import { errorMessage } from "../lib/error-message";
import { OutboundSlots } from "../lib/outbound-slots";
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

/** A webhook in these states has had its last try; a job for it is a duplicate. */
const SETTLED: readonly (WebhookState | null)[] = ["delivered", "failed"];

/** Longest wait between two tries. */
export const WEBHOOK_RETRY_MAX_S = 600;

/** Seconds before try `attempt + 1`: WEBHOOK_RETRY_BASE_S doubling per try, capped. */
export function webhookRetryDelayS(attempt: number, baseS: number): number {
  return Math.min(WEBHOOK_RETRY_MAX_S, Math.round(baseS * 2 ** Math.max(0, attempt - 1)));
}

type Verdict = { ok: true; status: number } | { ok: false; why: string; permanent?: boolean };

/**
 * One POST of the task JSON, signed; never follows a redirect (it could lead to a private address).
 * It waits for one of the invocation's outgoing slots, and its timeout starts when it is sent.
 */
async function post(url: string, body: string, attempt: number, slots: OutboundSlots, deps: DeliveryDeps): Promise<Verdict> {
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
    return await slots.run(new URL(url).host, async (): Promise<Verdict> => {
      const signal = AbortSignal.timeout(config.WEBHOOK_TIMEOUT_S * 1000);
      const res = await deps.fetch(url, { method: "POST", headers, body, redirect: "manual", signal });
      await res.body?.cancel(); // the answer's body is not ours to wait for
      return res.status >= 200 && res.status < 300 ? { ok: true, status: res.status } : { ok: false, why: String(res.status) };
    });
  } catch (err) {
    return { ok: false, why: `failed: ${errorMessage(err)}` };
  }
}

/** A job's attempt to record, and its message's ack or retry once recorded. */
interface Settled {
  attempt: WebhookAttempt;
  settle: () => void;
}

/**
 * Records attempts and settles their messages in groups: whatever finished while the previous
 * write ran goes into the next one. A fast delivery is recorded and acked at once, never behind a
 * slow one, and a batch costs at most one statement per message, usually a few. It resolves once
 * the job's group is written (or its write failed: delivered is delivered, and a missing timeline
 * entry is better than posting twice).
 */
function groupRecorder(deps: DeliveryDeps): (job: Settled) => Promise<void> {
  let queued: Settled[] = [];
  let writing = Promise.resolve();
  return (job) => {
    queued.push(job);
    writing = writing.then(async () => {
      const group = queued;
      queued = [];
      if (group.length === 0) return;
      await recordWebhookAttempts(deps.db, group.map((g) => g.attempt), deps.now()).catch((err: unknown) => {
        console.error("webhook attempts could not be recorded", err);
      });
      for (const g of group) g.settle();
    });
    return writing;
  };
}

/** What an answer means for the message: its timeline entry and whether (and when) the queue tries again. */
function outcome(taskId: string, message: Message<unknown>, verdict: Verdict, deps: DeliveryDeps): Settled {
  if (verdict.ok) return { attempt: { id: taskId, message: `webhook ${verdict.status}`, state: "delivered", next_try_at: null }, settle: () => message.ack() };
  if (verdict.permanent) return { attempt: { id: taskId, message: `webhook ${verdict.why}`, state: "failed", next_try_at: null }, settle: () => message.ack() };
  const last = message.attempts > deps.config.WEBHOOK_MAX_RETRIES;
  const delaySeconds = webhookRetryDelayS(message.attempts, deps.config.WEBHOOK_RETRY_BASE_S);
  const next = last ? "no tries left" : `retry ${message.attempts + 1} in ${delaySeconds}s`;
  const attempt: WebhookAttempt = { id: taskId, message: `webhook ${verdict.why}, ${next}`, state: "sent", next_try_at: deps.now() + delaySeconds * 1000 };
  return { attempt, settle: () => message.retry({ delaySeconds }) };
}

/**
 * The webhook queue's consumer. Each message is one task's webhook: the task is read now (so the
 * body is its current JSON), posted once, and the attempt written to its timeline. A failure is
 * retried by the queue with backoff; after WEBHOOK_MAX_RETRIES it goes to the DLQ. The task
 * itself is terminal already, so no answer of the receiver, or none, can delay or fail it. Posts
 * share the invocation's OUTBOUND_CONNECTIONS fairly between hosts, and each message is recorded
 * and settled as soon as its post ends, so a slow receiver delays no other receiver.
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
  const slots = new OutboundSlots();
  const record = groupRecorder(deps);
  await Promise.all(
    jobs.map(async ({ message, taskId }) => {
      const task = tasks.get(taskId);
      // Gone, no callback, running again (its next end sends its own webhook), or a duplicate job
      // (the alarm re-sent a webhook whose message was only slow) of one already settled: nothing to deliver.
      if (!task?.callbackUrl || !TERMINAL_STATUSES.includes(task.status) || SETTLED.includes(task.webhookState)) return message.ack();
      const verdict = await post(task.callbackUrl, JSON.stringify(taskToJson(task, NOT_WAITING)), message.attempts, slots, deps);
      await record(outcome(taskId, message, verdict, deps));
    }),
  );
}

/** The webhook DLQ's consumer: the webhook failed for good; say so in the timeline and count it. */
export async function handleWebhookDeadLetters(batch: MessageBatch<unknown>, deps: Pick<DeliveryDeps, "db" | "config" | "now">): Promise<void> {
  const tries = deps.config.WEBHOOK_MAX_RETRIES + 1;
  const ids = batch.messages.flatMap((m) => {
    const parsed = webhookMessageSchema.safeParse(m.body);
    return parsed.success ? [parsed.data.task_id] : [];
  });
  try {
    const attempts = ids.map((id): WebhookAttempt => ({ id, message: `webhook failed after ${tries} tries (dead-lettered)`, state: "failed", next_try_at: null }));
    await recordWebhookAttempts(deps.db, attempts, deps.now());
    await addToCounter(deps.db, COUNTER.webhooksDeadLettered, batch.messages.length);
    batch.ackAll();
  } catch (err) {
    console.error("webhook dead-letter pass failed; will be redelivered", err);
    batch.retryAll({ delaySeconds: 5 });
  }
}
