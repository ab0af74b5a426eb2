import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { requireConfig } from "../../src/config";
import { alwaysAdmit, dispatchBatch, type DispatchDeps } from "../../src/dispatch/consumer";
import type { RunTasks } from "../../src/dispatch/pass";
import type { PlanStore } from "../../src/dispatch/run-plans";
import type { TaskEnvelope, TaskOutcome } from "../../src/organism/task-contracts";
import { runtime } from "../../src/dispatch/runtime";
import type { TaskMessage } from "../../src/dispatch/message";
import { resetPendingWakeup } from "../../src/dispatch/wakeups";
import worker from "../../src/index";
import { recordingQueue } from "./recording-queue";
import { followUpDeps, followUpTerminal } from "../../src/follow-ups";
import { db } from "./tasks";

export const TASK_QUEUE = "seedcore-tasks";
export const DLQ = "seedcore-tasks-dlq";

export type DepsOverrides = Omit<Partial<DispatchDeps>, "config"> & { config?: Partial<DispatchDeps["config"]>; runTasks?: RunTasks };

/**
 * Dispatcher dependencies for calling `dispatchBatch` directly: the test D1, a recording queue,
 * the real config, the real run (coordinator, organs, the isolate's breakers) unless `runTasks`
 * replaces it (then with no breaker), a fixed jitter, and the real follow-ups (waiters, webhook
 * jobs to the test sink, further dependency rounds).
 */
export function dispatchDeps(overrides: DepsOverrides = {}): DispatchDeps {
  const { config: configOverrides, runTasks, ...rest } = overrides;
  resetPendingWakeup();
  const config = { ...requireConfig(env), ...configOverrides };
  const database = rest.db ?? db();
  return {
    db: database,
    followUp: (recorded, maxRounds) => followUpTerminal(recorded.written, recorded.dependents, "dispatcher", followUpDeps(env, database), maxRounds),
    queue: recordingQueue().queue,
    config,
    admit: runTasks ? alwaysAdmit(runTasks) : runtime(env, config).admit,
    now: Date.now,
    random: () => 0.5,
    newToken: () => crypto.randomUUID(),
    statementsUsed: () => 0,
    ...rest,
  };
}

/** A fake run in the old batch style: every outcome of the pass at once, when the run ends. */
export type BatchRun = (pass: string, tasks: TaskEnvelope[], plans: PlanStore) => Promise<readonly TaskOutcome[]>;

/**
 * Adapts a batch-style fake run to RunTasks: each outcome it returns goes to the sink, in order,
 * when the run ends (as if every task ended together).
 */
export function batched(run: BatchRun): RunTasks {
  return async (pass, tasks, plans, sink) => {
    for (const outcome of await run(pass, tasks, plans)) sink.outcome(outcome);
  };
}

let messageSeq = 0;

/** A queue batch of `n` wake-ups (any body: the consumer treats every message as one). */
export function wakeBatch(queue = TASK_QUEUE, bodies: unknown[] = [{ kind: "wake", reason: "submit" }]) {
  return createMessageBatch(queue, bodies.map((body) => ({ id: `m-${++messageSeq}`, timestamp: new Date(), attempts: 1, body })));
}

/** One drain with these deps, as a wake-up would start it. */
export async function drain(overrides: DepsOverrides = {}): Promise<DispatchDeps> {
  const deps = dispatchDeps(overrides);
  await dispatchBatch(wakeBatch(), deps);
  return deps;
}

/** Wake-ups through the Worker's own queue handler (real bindings and coordinator), with its acks. */
export async function deliver(queue = TASK_QUEUE, bodies?: unknown[]) {
  resetPendingWakeup();
  const batch = wakeBatch(queue, bodies);
  const ctx = createExecutionContext();
  const handler: ExportedHandler<Env, TaskMessage> = worker;
  await handler.queue?.(batch as MessageBatch<TaskMessage>, env, ctx);
  await waitOnExecutionContext(ctx);
  return { batch, result: await getQueueResult(batch, ctx) };
}
