import type { ControlResult } from "../organism/control-contracts";
import type { ReadOnlyControlType } from "../organism/decisions";
import type { TaskOutcome } from "../organism/task-contracts";
import type { CoordinatorStub } from "./organism-client";

/** A read-only control type carried by a task, answered by the coordinator's typed method. */
export type RunControl = (taskId: string, type: ReadOnlyControlType, params: Record<string, unknown>) => Promise<TaskOutcome>;

const asOutcome = (taskId: string, r: ControlResult<Record<string, unknown>>): TaskOutcome =>
  r.ok
    ? { id: taskId, ok: true, result: r.value, execution: { path: "control" } }
    : { id: taskId, ok: false, retriable: r.code === "unavailable", error: r.error, execution: { path: "control", code: r.code } };

export function controlTasks(stub: () => CoordinatorStub): RunControl {
  return async (taskId, type, params) => {
    const coordinator = stub();
    switch (type) {
      case "get_organism_status":
        return asOutcome(taskId, { ok: true, value: { ...(await coordinator.getStatus()) } });
      case "get_organism_summary": {
        const summary = await coordinator.summary();
        return asOutcome(taskId, summary.ok ? { ok: true, value: { ...summary.value } } : summary);
      }
      case "get_metrics":
        return asOutcome(taskId, { ok: true, value: { metrics: await coordinator.metricsView() } });
      case "get_routing_debug": {
        const drift = params["drift_score"];
        const domain = params["domain"];
        return asOutcome(taskId, await coordinator.routingDebug({
          task_type: typeof params["task_type"] === "string" ? params["task_type"] : "",
          domain: typeof domain === "string" ? domain : null,
          drift_score: typeof drift === "number" ? drift : 0,
        }));
      }
    }
  };
}
