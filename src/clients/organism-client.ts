import type { TaskEnvelope, TaskOutcome } from "../contracts";

/** The coordinator is a single Durable Object; every caller reaches it by this one name. */
export const COORDINATOR_NAME = "organism";

export function organismStub(env: Env) {
  return env.ORGANISM_MANAGER.get(env.ORGANISM_MANAGER.idFromName(COORDINATOR_NAME));
}

/** One RPC per consumer batch (DESIGN §4); outcomes come back in the order of `tasks`. */
export function dispatchToCoordinator(env: Env, tasks: TaskEnvelope[]): Promise<TaskOutcome[]> {
  return organismStub(env).handleIncomingTasks(tasks);
}

/** Runs one task (or control message) synchronously through the coordinator. */
export function runOnCoordinator(env: Env, task: TaskEnvelope): Promise<TaskOutcome> {
  return organismStub(env).handleIncomingTask(task);
}

/** A control message as a task: the routes use this so control has one implementation. */
export function controlTask(type: string, params: Record<string, unknown> = {}): TaskEnvelope {
  return { id: crypto.randomUUID(), type, params, description: null, domain: null, drift_score: 0, attempt: 1 };
}
