import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { controlTasks } from "../../src/clients/control-tasks";
import { organClient, organStub } from "../../src/clients/organ-client";
import type { CoordinatorStub } from "../../src/clients/organism-client";
import { requireConfig } from "../../src/config";
import { executeTasks } from "../../src/dispatch/execute-tasks";
import { UNSTORED_PLANS, type PlanStore } from "../../src/dispatch/run-plans";
import type { TaskEnvelope, TaskOutcome } from "../../src/organism/task-contracts";

type RawCoordinatorStub = ReturnType<typeof env.ORGANISM_MANAGER.get>;

/**
 * A coordinator of its own per test, so OCPS state and metrics never leak between tests. Its RPC
 * methods are typed by the class's own signatures (`CoordinatorStub`, see `Remote`): the generated
 * stub types collapse results holding `Record<string, unknown>` to `never`, which type-checks
 * against anything.
 */
export function freshCoordinator(name = `test-${crypto.randomUUID()}`): Omit<RawCoordinatorStub, keyof CoordinatorStub> & CoordinatorStub {
  return env.ORGANISM_MANAGER.get(env.ORGANISM_MANAGER.idFromName(name)) as unknown as Omit<RawCoordinatorStub, keyof CoordinatorStub> & CoordinatorStub;
}

/** The same object's plain stub, for runInDurableObject and evict. */
export function objectStub(stub: object): RawCoordinatorStub {
  return stub as unknown as RawCoordinatorStub;
}

/**
 * Evicts a Durable Object as a restart would: `state.abort()` drops the instance and its memory,
 * and the next call on a new stub constructs it again from storage. (This pool version has no
 * evictDurableObject.)
 */
export async function evict(stub: object): Promise<void> {
  await runInDurableObject(stub as DurableObjectStub<Rpc.DurableObjectBranded | undefined>, (_instance: unknown, state) => state.abort("evicted by test")).catch(() => undefined);
}

export function task(type: string, over: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return {
    id: crypto.randomUUID(), type, params: {}, description: null, domain: null, drift_score: 0, attempt: 1,
    token: null, deadline: Date.now() + requireConfig(env).TASK_TIMEOUT_S * 1000, parents: null, last_heartbeat: null, ...over,
  };
}

/**
 * Runs tasks by the production path (decide, then the organs) with `coord` deciding; their
 * outcomes in task order (each task's first, as the pass records it).
 */
export async function runVia(coord: CoordinatorStub, tasks: TaskEnvelope[], plans: PlanStore = UNSTORED_PLANS): Promise<TaskOutcome[]> {
  const config = requireConfig(env);
  const organs = organClient(config, { stub: (name) => organStub(env, name) });
  const outcomes = new Map<string, TaskOutcome>();
  await executeTasks(
    crypto.randomUUID(),
    tasks,
    {
      config,
      decide: (pass, t) => coord.decide(pass, t),
      call: (replica, work, timeoutMs) => organs.run(replica, work, timeoutMs),
      callGroup: organs.runGroup,
      abort: (replica, ids) => organs.abort(replica, ids),
      control: controlTasks(() => coord),
      report: (r) => coord.report(r),
      plans,
      now: Date.now,
    },
    { outcome: (o) => void (outcomes.has(o.id) || outcomes.set(o.id, o)), started: () => undefined },
  );
  return tasks.map((t): TaskOutcome => outcomes.get(t.id) ?? { id: t.id, ok: false, retriable: true, error: "no outcome" });
}

export async function runOneVia(coord: CoordinatorStub, t: TaskEnvelope): Promise<TaskOutcome> {
  const [outcome] = await runVia(coord, [t]);
  return outcome as TaskOutcome;
}

/** Narrows an outcome's result (what the task's code returned) to a plain record for assertions. */
export function resultOf(outcome: { result?: unknown }): Record<string, unknown> {
  if (outcome.result === null || typeof outcome.result !== "object") throw new Error("outcome has no record result");
  return outcome.result as Record<string, unknown>;
}

/** An outcome's execution (how it ran: path, organ, replica, agent, p_fast, plan). */
export function executionOf(outcome: { execution?: Record<string, unknown> }): Record<string, unknown> {
  if (!outcome.execution) throw new Error("outcome has no execution");
  return outcome.execution;
}
