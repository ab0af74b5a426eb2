import { createMessageBatch } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { organismStub, type RunTasks } from "../../src/clients/organism-client";
import { requireConfig } from "../../src/config";
import { alwaysAdmit, type DispatchDeps } from "../../src/dispatch/consumer";
import { recordingQueue } from "./recording-queue";
import { db } from "./tasks";
import { TASK_QUEUE } from "./worker";

export type DepsOverrides = Omit<Partial<DispatchDeps>, "config"> & { config?: Partial<DispatchDeps["config"]>; runTasks?: RunTasks };

/**
 * Dispatcher dependencies for calling `dispatchBatch` directly: the test D1, a recording queue,
 * the real config, no breaker (`runTasks`, default the real coordinator), a fixed jitter.
 */
export function dispatchDeps(overrides: DepsOverrides = {}): DispatchDeps {
  const { config, runTasks, ...rest } = overrides;
  return {
    db: db(),
    queue: recordingQueue().queue,
    config: { ...requireConfig(env), ...config },
    admit: alwaysAdmit(runTasks ?? ((tasks) => organismStub(env).handleIncomingTasks(tasks))),
    now: Date.now,
    random: () => 0.5,
    newToken: () => crypto.randomUUID(),
    ...rest,
  };
}

/** A queue batch with one message per id list, as the dispatcher receives it. */
export function messageBatch(...idLists: string[][]) {
  return createMessageBatch(
    TASK_QUEUE,
    idLists.map((task_ids) => ({ id: `m-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body: { task_ids } })),
  );
}
