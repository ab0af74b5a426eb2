import { controlTasks } from "../clients/control-tasks";
import { organClient, organStub } from "../clients/organ-client";
import { coordinatorClient, organismStub, type CoordinatorClient } from "../clients/organism-client";
import type { Config } from "../config";
import { CircuitOpenError } from "../lib/circuit-breaker";
import type { AiBinding } from "../organism/cognitive-planner";
import type { TaskEnvelope, TaskOutcome } from "../organism/task-contracts";
import { executeTasks, type ExecuteDeps } from "./execute-tasks";
import type { PassAdmission } from "./pass";
import { timeoutOf } from "./retry-policy";
import { UNSTORED_PLANS } from "./run-plans";

/**
 * The production wiring of a run: the coordinator's `decide` behind its breaker, the organ
 * replicas through their client, read-only control through the coordinator's typed methods.
 */
export function runtime(env: Env, config: Config, coordinator: CoordinatorClient = coordinatorClient(env, config)) {
  const organs = organClient(config, { stub: (name) => organStub(env, name) });
  const base: Omit<ExecuteDeps, "decide" | "plans"> = {
    config,
    call: (replica, work, timeoutMs) => organs.run(replica, work, timeoutMs),
    callGroup: (replica, works, timeoutMs, onReport) => organs.runGroup(replica, works, timeoutMs, onReport),
    abort: (replica, ids) => organs.abort(replica, ids),
    control: controlTasks(() => organismStub(env)),
    report: (report) => coordinator.report(report),
    now: Date.now,
    // Optional: bound only when the deployment adds an [ai] binding (see cognitiveBackend).
    ...(env.AI ? { ai: env.AI as unknown as AiBinding } : {}),
  };
  const admit = (): PassAdmission => {
    const admission = coordinator.admit();
    if (!admission.admitted) return admission;
    return { admitted: true, run: (pass, tasks, plans, sink) => executeTasks(pass, tasks, { ...base, decide: admission.decide, plans }, sink), release: admission.release };
  };
  return {
    coordinator,
    admit,
    /** One task now, by the same path (POST /organism/handle-task); nothing is stored. */
    async runNow(task: Omit<TaskEnvelope, "token" | "deadline" | "parents" | "last_heartbeat">): Promise<TaskOutcome> {
      const admission = admit();
      if (!admission.admitted) throw new CircuitOpenError(coordinator.breaker.name, admission.retryAfterMs);
      const work: TaskEnvelope = { ...task, token: null, deadline: Date.now() + timeoutOf(task.type, config) * 1000, parents: null, last_heartbeat: null };
      let outcome: TaskOutcome | undefined;
      await admission.run(crypto.randomUUID(), [work], UNSTORED_PLANS, { outcome: (o) => void (outcome ??= o), started: () => undefined });
      return outcome ?? { id: task.id, ok: false, retriable: true, error: "no outcome" };
    },
  };
}
