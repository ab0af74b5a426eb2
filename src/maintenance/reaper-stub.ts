import type { TaskReaper } from "../../durable-objects/task-reaper";
import type { Remote } from "../lib/remote";

/** The one maintenance object (`idFromName("reaper")`) whose alarm runs the reaper and sweeper. */
export function reaperStub(env: Env): Remote<Pick<TaskReaper, "ensureScheduled" | "runNow" | "wakeBy">> {
  return env.TASK_REAPER.get(env.TASK_REAPER.idFromName("reaper")) as unknown as Remote<Pick<TaskReaper, "ensureScheduled" | "runNow" | "wakeBy">>;
}
