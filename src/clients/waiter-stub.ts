import type { TaskWaiter } from "../../durable-objects/task-waiter";
import type { Remote } from "../lib/remote";

/** The waiter object of a task's shard (256 shards by the id's first two hex digits), typed by the class's own signatures. */
export function waiterStub(env: Pick<Env, "TASK_WAITER">, taskId: string): Remote<Pick<TaskWaiter, "wait" | "notify">> {
  return env.TASK_WAITER.get(env.TASK_WAITER.idFromName(`waiters:${taskId.slice(0, 2)}`)) as unknown as Remote<Pick<TaskWaiter, "wait" | "notify">>;
}
