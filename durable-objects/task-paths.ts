import type { Config } from "../src/config";
import type { TaskEnvelope, TaskOutcome } from "../src/contracts";
import { countOrganRun, countOutcome, type CoordinatorMetrics } from "./metrics";
import type { OrganTask, OrganTaskResult } from "./organ-contracts";
import { fallbackPlan, planEscalation, planWithTimeout, type PlannerInput } from "./planner";
import type { RoutingTable } from "./routing";

/** Runs tasks on one organ; the manager supplies the RPC. */
export type RunOnOrgan = (organId: string, tasks: OrganTask[]) => Promise<OrganTaskResult[]>;

export function toOrganTask(task: TaskEnvelope): OrganTask {
  return { id: task.id, type: task.type, params: task.params, description: task.description, domain: task.domain, attempt: task.attempt };
}

/** Fast-path result: `success` is the agent's own verdict, never assumed. */
export function fastOutcome(task: TaskEnvelope, r: OrganTaskResult, pFastNow: number, config: Config, m: CoordinatorMetrics): TaskOutcome {
  countOrganRun(m, r.organ_id, r.success);
  m.fast_path++;
  if (r.latency_ms > config.FAST_PATH_LATENCY_SLO_MS) m.slo_misses++;
  const result: Record<string, unknown> = {
    success: r.success, path: "fast", organ_id: r.organ_id, agent_id: r.agent_id, p_fast: pFastNow,
    latency_ms: r.latency_ms, result: r.result ?? null, ...(r.error ? { error: r.error } : {}),
  };
  if (r.success) return { id: task.id, ok: true, result };
  return { id: task.id, ok: false, retriable: r.retry, error: r.error ?? "task failed", result };
}

/** One RPC per organ per batch; an organ that cannot be reached fails its tasks retriably. */
export async function runFastGroup(
  organId: string,
  group: readonly { task: TaskEnvelope; pFast: number }[],
  run: RunOnOrgan,
  config: Config,
  m: CoordinatorMetrics,
): Promise<TaskOutcome[]> {
  const unavailable = (task: TaskEnvelope, error: string): OrganTaskResult => ({ task_id: task.id, success: false, organ_id: organId, agent_id: null, error, retry: true, latency_ms: 0 });
  let results: OrganTaskResult[];
  try {
    results = await run(organId, group.map((g) => toOrganTask(g.task)));
  } catch (err) {
    results = group.map((g) => unavailable(g.task, `organ '${organId}' unavailable: ${String(err)}`));
  }
  return group.map((g, i) => {
    const outcome = fastOutcome(g.task, results[i] ?? unavailable(g.task, "organ returned no result"), g.pFast, config, m);
    countOutcome(m, outcome.ok);
    return outcome;
  });
}

export interface EscalationDeps {
  config: Config;
  routing: RoutingTable;
  knownOrgans: ReadonlySet<string>;
  /** Escalations already running when this one starts (COGNITIVE_MAX_INFLIGHT guard). */
  inflight: number;
  run: RunOnOrgan;
  metrics: CoordinatorMetrics;
}

/** Plans, then runs the steps in order; stops at the first failed step (later steps build on it). */
export async function escalate(task: TaskEnvelope, routedOrganId: string, pFastNow: number, deps: EscalationDeps): Promise<TaskOutcome> {
  const { config } = deps;
  const input: PlannerInput = { task, routedOrganId, knownOrgans: deps.knownOrgans, routing: deps.routing, maxSteps: config.MAX_PLAN_STEPS };
  const plan = deps.inflight >= config.COGNITIVE_MAX_INFLIGHT
    ? fallbackPlan(input, `COGNITIVE_MAX_INFLIGHT (${config.COGNITIVE_MAX_INFLIGHT}) reached`)
    : await planWithTimeout(planEscalation, input, config.COGNITIVE_TIMEOUT_S * 1000);
  deps.metrics.escalations++;
  if (plan.plan_source === "fallback") deps.metrics.fallback_plans++;

  const solution_steps: Record<string, unknown>[] = [];
  let failed: { error: string; retriable: boolean } | undefined;
  for (const [i, step] of plan.steps.entries()) {
    const stepTask: OrganTask = { id: `${task.id}:step${i + 1}`, ...step.task, attempt: task.attempt };
    let r: OrganTaskResult;
    try {
      [r] = (await deps.run(step.organ_id, [stepTask])) as [OrganTaskResult];
    } catch (err) {
      r = { task_id: stepTask.id, success: false, organ_id: step.organ_id, agent_id: null, error: `organ '${step.organ_id}' unavailable: ${String(err)}`, retry: true, latency_ms: 0 };
    }
    countOrganRun(deps.metrics, step.organ_id, r.success);
    solution_steps.push({ organ_id: step.organ_id, success: r.success, task: step.task, result: r.result ?? null, error: r.error ?? null });
    if (!r.success) {
      failed = { error: `step ${i + 1} on ${step.organ_id} failed: ${r.error ?? "unknown error"}`, retriable: r.retry };
      break;
    }
  }
  const result: Record<string, unknown> = {
    success: failed === undefined, path: "escalation", kind: "escalated", plan_source: plan.plan_source,
    ...(plan.fallback_reason ? { fallback_reason: plan.fallback_reason } : {}),
    solution_steps, p_fast: pFastNow,
  };
  if (!failed) return { id: task.id, ok: true, result };
  return { id: task.id, ok: false, retriable: failed.retriable, error: failed.error, result: { ...result, error: failed.error } };
}
