import type { Config } from "../config";
import type { TaskEnvelope, TaskOutcome } from "../contracts";
import type { TaskRow } from "../db/schema";
import { claimTasks, findDeferredTasks, renewLeases } from "../store/claim-tasks";
import type { Db } from "../store/db";
import { recordOutcomes } from "../store/record-outcomes";
import { enqueueTasks } from "./enqueue";
import { taskMessageSchema, type TaskMessage } from "./message";
import { decideOutcome } from "./retry-policy";

export interface DispatchDeps {
  db: Db;
  queue: Queue<TaskMessage>;
  config: Config;
  /** One coordinator call for the whole batch. */
  runTasks: (tasks: TaskEnvelope[]) => Promise<TaskOutcome[]>;
  now: () => number;
  random: () => number;
  newToken: () => string;
}

/** Redelivery delay when the pass itself failed (D1 down, …): the claim is idempotent. */
const PASS_FAILED_RETRY_S = 5;

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
  try {
    await dispatchIds([...ids], deps);
    for (const message of valid) message.ack();
  } catch (err) {
    console.error("dispatch pass failed; messages will be redelivered", err);
    for (const message of valid) message.retry({ delaySeconds: PASS_FAILED_RETRY_S });
  }
}

async function dispatchIds(ids: string[], deps: DispatchDeps): Promise<void> {
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

  const outcomes = await runWithLease(claimed, token, deps);
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
async function runWithLease(claimed: TaskRow[], token: string, deps: DispatchDeps): Promise<Map<string, TaskOutcome>> {
  const { config } = deps;
  const ids = claimed.map((t) => t.id);
  const heartbeat = setInterval(() => {
    renewLeases(deps.db, ids, token, deps.now(), config.TASK_LEASE_S * 1000).catch((err) =>
      console.warn("lease renewal failed", err),
    );
  }, config.HEARTBEAT_S * 1000);
  let timer: number | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`coordinator timed out after ${config.DISPATCH_TIMEOUT_S}s`)),
      config.DISPATCH_TIMEOUT_S * 1000,
    );
  });
  try {
    const outcomes = await Promise.race([deps.runTasks(claimed.map(toEnvelope)), timeout]);
    return new Map(outcomes.map((o) => [o.id, o]));
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    return new Map(ids.map((id) => [id, { id, ok: false, retriable: true, error }]));
  } finally {
    clearInterval(heartbeat);
    clearTimeout(timer);
  }
}
