import type { Config } from "./config";
import { enqueueOrLeaveToSweeper } from "./dispatch/enqueue";
import type { TaskMessage } from "./dispatch/message";
import type { TaskInput } from "./schemas/task";
import { createTasks, type CreatedTask, type NewTask } from "./store/create-tasks";
import type { Db } from "./store/db";

export interface SubmitDeps {
  db: Db;
  queue: Queue<TaskMessage>;
  config: Config;
  now: number;
}

function toNewTask(input: TaskInput, config: Config, idempotencyKey: string | null): NewTask {
  return {
    id: crypto.randomUUID(),
    status: input.run_immediately ? "queued" : "created",
    type: input.type,
    description: input.description ?? null,
    domain: input.domain ?? null,
    drift_score: input.drift_score,
    params: input.params,
    run_after: input.run_after ? Date.parse(input.run_after) : null,
    max_attempts: input.max_attempts ?? config.MAX_TASK_ATTEMPTS,
    idempotency_key: idempotencyKey ?? input.idempotency_key ?? null,
  };
}

/** Stores the tasks (one transaction), then sends one queue message for the new queued ones. */
export async function submitTasks(
  inputs: TaskInput[],
  deps: SubmitDeps,
  idempotencyKey: string | null = null,
): Promise<CreatedTask[]> {
  const created = await createTasks(
    deps.db,
    inputs.map((input) => toNewTask(input, deps.config, idempotencyKey)),
    deps.now,
  );
  const toQueue = created
    .filter((c) => c.created && c.row.status === "queued")
    .map((c) => ({ id: c.row.id, run_after: c.row.runAfter }));
  await enqueueOrLeaveToSweeper(deps.queue, toQueue, deps.now);
  return created;
}
