import type { Config } from "../config";
import type { Admission, RunTasks } from "../clients/organism-client";
import type { TaskEnvelope, TaskOutcome } from "../contracts";
import type { TaskRow } from "../db/schema";
import { claimTasks, findDeferredTasks, renewLeases, touchWaitingTasks } from "../store/claim-tasks";
import type { Db } from "../store/db";
import { recordOutcomes } from "../store/record-outcomes";
import { enqueueTasks } from "./enqueue";
import { taskMessageSchema, type TaskMessage } from "./message";
import { decideOutcome, JITTER } from "./retry-policy";
import { errorMessage } from "../lib/error-message";
import { withTimeout } from "../lib/timeout";

export interface DispatchDeps {
  db: Db;
  queue: Queue<TaskMessage>;
  config: Config;
  /**
   * Asked once per batch, before any claim: the coordinator's circuit breaker either admits one
   * call for the whole batch or says how long to stay away (see `alwaysAdmit` for tests).
   */
  admit: () => Admission;
  now: () => number;
  random: () => number;
  newToken: () => string;
}

/** Redelivery delay when the pass itself failed (D1 down, …): the claim is idempotent. */
const PASS_FAILED_RETRY_S = 5;

/** An admission that always lets the call through (no breaker): for tests and tools. */
export function alwaysAdmit(run: RunTasks): () => Admission {
  return () => ({ admitted: true, run, release: () => undefined });
}

/**
 * The dispatcher: flattens the batch's ids, claims, runs and records them in one pass, then
 * acks every message. Malformed messages are acked and dropped alone; a failed pass retries
 * each message (tasks it already claimed are rescued by the reaper when their lease ends).
 */
export async function dispatchBatch(batch: MessageBatch<unknown>, deps: DispatchDeps): Promise<void> {
  const ids = new Set<string>();
  const valid: Message<unknown>[] = [];
  for (const message of batch.messages) {
    const parsed = taskMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      console.warn(`dropping malformed queue message ${message.id}: ${parsed.error.message}`);
      message.ack();
      continue;
    }
    for (const id of parsed.data.task_ids) ids.add(id);
    valid.push(message);
  }
  if (valid.length === 0) return;
  const admission = deps.admit();
  if (!admission.admitted) return deferWhileOpen(valid, [...ids], admission.retryAfterMs, deps);
  try {
    await dispatchIds([...ids], admission.run, deps);
    admission.release(); // no-op when the call was made; frees a half-open probe slot otherwise
    for (const message of valid) message.ack();
  } catch (err) {
    admission.release();
    console.error("dispatch pass failed; messages will be redelivered", err);
    for (const message of valid) message.retry({ delaySeconds: PASS_FAILED_RETRY_S });
  }
}

/**
 * The coordinator's breaker is open: claim nothing (so no task spends an attempt on an outage)
 * and send the ids again after the breaker's recovery time. Acking and re-sending, instead of
 * `message.retry`, keeps the queue's own retry counter (max_retries → DLQ → failed) untouched,
 * however long the outage lasts. Touching the rows keeps the sweeper from adding duplicates.
 */
async function deferWhileOpen(messages: Message<unknown>[], ids: string[], retryAfterMs: number, deps: DispatchDeps): Promise<void> {
  const now = deps.now();
  // The retry policy's jitter, one-sided: spread the backlog, but never before the breaker admits.
  const delaySeconds = Math.max(1, Math.ceil((retryAfterMs / 1000) * (1 + JITTER * deps.random())));
  console.warn(`coordinator circuit open: deferring ${ids.length} tasks by ${delaySeconds}s without claiming them`);
  const resendAt = now + delaySeconds * 1000;
  try {
    const waiting = await touchWaitingTasks(deps.db, ids, now).catch((err: unknown) => {
      console.warn("touching deferred tasks failed; re-sending every id", err);
      return ids.map((id) => ({ id, run_after: null }));
    });
    // A task not due yet keeps its own time; the others come back when the breaker may admit them.
    await enqueueTasks(deps.queue, waiting.map((t) => ({ id: t.id, run_after: Math.max(t.run_after ?? 0, resendAt) })), now);
    for (const message of messages) message.ack();
  } catch (err) {
    // The send failed: fall back to the queue's own redelivery (this one does count toward max_retries).
    console.error("re-sending deferred tasks failed; retrying the messages", err);
    for (const message of messages) message.retry({ delaySeconds });
  }
}

async function dispatchIds(ids: string[], run: RunTasks, deps: DispatchDeps): Promise<void> {
  const { db, config } = deps;
  const leaseMs = config.TASK_LEASE_S * 1000;
  const token = deps.newToken();
  const claimedAt = deps.now();
  const claimed = await claimTasks(db, ids, token, claimedAt, leaseMs);
  if (claimed.length < ids.length) {
    const claimedIds = new Set(claimed.map((t) => t.id));
    const deferred = await findDeferredTasks(db, ids.filter((id) => !claimedIds.has(id)), claimedAt);
    await enqueueTasks(deps.queue, deferred, claimedAt);
  }
  if (claimed.length === 0) return;

  const outcomes = await runWithLease(claimed, token, run, deps);
  const now = deps.now();
  const writes = claimed.map((task) =>
    decideOutcome(
      { id: task.id, attempts: task.attempts, max_attempts: task.maxAttempts },
      outcomes.get(task.id) ?? { id: task.id, ok: false, retriable: true, error: "coordinator returned no outcome" },
      config,
      now,
      deps.random(),
    ),
  );
  const written = await recordOutcomes(db, token, writes, now);
  const retries = written.filter((w) => w.status === "retry");
  try {
    await enqueueTasks(deps.queue, retries, now);
  } catch (err) {
    // The rows are `retry` with a run_after in D1; the sweeper re-sends them.
    console.error("re-sending retries failed; the sweeper will pick them up", err);
  }
}

function toEnvelope(task: TaskRow): TaskEnvelope {
  return {
    id: task.id,
    type: task.type,
    params: task.params,
    description: task.description,
    domain: task.domain,
    drift_score: task.driftScore,
    attempt: task.attempts,
  };
}

/**
 * Calls the coordinator under DISPATCH_TIMEOUT_S while renewing the lease every HEARTBEAT_S.
 * A thrown error or a timeout becomes a retriable failure of every task: it counts as an attempt.
 */
async function runWithLease(claimed: TaskRow[], token: string, run: RunTasks, deps: DispatchDeps): Promise<Map<string, TaskOutcome>> {
  const { config } = deps;
  const ids = claimed.map((t) => t.id);
  const heartbeat = setInterval(() => {
    renewLeases(deps.db, ids, token, deps.now(), config.TASK_LEASE_S * 1000).catch((err) =>
      console.warn("lease renewal failed", err),
    );
  }, config.HEARTBEAT_S * 1000);
  try {
    // Bounds the whole call, retries included (the guarded client bounds each try).
    const outcomes = await withTimeout(run(claimed.map(toEnvelope)), config.DISPATCH_TIMEOUT_S * 1000, "coordinator");
    return new Map(outcomes.map((o) => [o.id, o]));
  } catch (err) {
    const error = errorMessage(err);
    return new Map(ids.map((id) => [id, { id, ok: false, retriable: true, error }]));
  } finally {
    clearInterval(heartbeat);
  }
}
