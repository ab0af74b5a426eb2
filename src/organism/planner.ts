import { z } from "zod";
import type { TaskEnvelope } from "./task-contracts";
import { resolveRoute, type RoutingTable } from "./routing";
import { errorMessage } from "../lib/error-message";
import { TimeoutError, withTimeout } from "../lib/timeout";

/** What one plan step asks an organ to run. */
export interface StepTask {
  type: string;
  params: Record<string, unknown>;
  description: string | null;
  domain: string | null;
}

export interface PlanStep {
  organ_id: string;
  task: StepTask;
}

/** `llm`: the cognitive planner (COGNITIVE_URL) made it. */
export type PlanSource = "params" | "decomposition" | "fallback" | "llm";

export interface Plan {
  plan_source: PlanSource;
  steps: PlanStep[];
  /** Why the fallback was chosen when a plan was asked for (invalid plan, overload, timeout). */
  fallback_reason?: string;
}

export interface PlannerInput {
  task: TaskEnvelope;
  routedOrganId: string;
  knownOrgans: ReadonlySet<string>;
  routing: RoutingTable;
  maxSteps: number;
}

const planStepSchema = z.object({
  organ_id: z.string().min(1),
  task: z.object({
    type: z.string().trim().toLowerCase().min(1).max(64),
    params: z.record(z.string(), z.unknown()).default({}),
    description: z.string().max(4096).nullable().default(null),
    domain: z.string().max(64).nullable().default(null),
  }),
});

/** The single-step plan: run the task itself on the organ it routes to. */
export function fallbackPlan(input: PlannerInput, reason?: string): Plan {
  const { task } = input;
  const steps = [{ organ_id: input.routedOrganId, task: { type: task.type, params: task.params, description: task.description, domain: task.domain } }];
  return reason ? { plan_source: "fallback", steps, fallback_reason: reason } : { plan_source: "fallback", steps };
}

/** Validates a caller-supplied plan: an array of 1..maxSteps steps naming known organs. */
export function validatePlan(raw: unknown, knownOrgans: ReadonlySet<string>, maxSteps: number): { ok: true; steps: PlanStep[] } | { ok: false; error: string } {
  if (!Array.isArray(raw) || raw.length === 0) return { ok: false, error: "params.plan must be a non-empty array" };
  if (raw.length > maxSteps) return { ok: false, error: `params.plan has ${raw.length} steps; MAX_PLAN_STEPS is ${maxSteps}` };
  const steps: PlanStep[] = [];
  for (const [i, item] of raw.entries()) {
    const parsed = planStepSchema.safeParse(item);
    if (!parsed.success) return { ok: false, error: `params.plan[${i}] is invalid: ${parsed.error.issues[0]?.message ?? "bad step"}` };
    if (!knownOrgans.has(parsed.data.organ_id)) return { ok: false, error: `params.plan[${i}] names unknown organ '${parsed.data.organ_id}'` };
    steps.push(parsed.data);
  }
  return { ok: true, steps };
}

/** Plan → do → check: analyse the goal on the planning organ, run the task, analyse the outcome. */
function decompose(input: PlannerInput): PlanStep[] {
  const { task } = input;
  const text = task.description ?? JSON.stringify(task.params);
  const own = { type: task.type, params: task.params, description: task.description, domain: task.domain };
  const planner = resolveRoute(input.routing, "plan") ?? input.routedOrganId;
  const analyst = resolveRoute(input.routing, "analyze") ?? input.routedOrganId;
  const steps: PlanStep[] = [
    { organ_id: planner, task: { type: "plan", params: { goal: text }, description: task.description, domain: task.domain } },
    { organ_id: input.routedOrganId, task: own },
    { organ_id: analyst, task: { type: "analyze", params: { data: text }, description: task.description, domain: task.domain } },
  ];
  // A tight MAX_PLAN_STEPS keeps the step that does the work.
  return input.maxSteps >= steps.length ? steps : [{ organ_id: input.routedOrganId, task: own }];
}

/** The deterministic built-in planner: params.plan if valid, decomposition if forced, else fallback. */
export function planEscalation(input: PlannerInput): Plan {
  const { params } = input.task;
  if (params["plan"] !== undefined) {
    const checked = validatePlan(params["plan"], input.knownOrgans, input.maxSteps);
    return checked.ok ? { plan_source: "params", steps: checked.steps } : fallbackPlan(input, checked.error);
  }
  if (params["force_decomposition"] === true) return { plan_source: "decomposition", steps: decompose(input) };
  return fallbackPlan(input);
}

/** Bounds planning by COGNITIVE_TIMEOUT_S; a planner that overruns yields the fallback plan. */
export async function planWithTimeout(planner: (input: PlannerInput) => Plan | Promise<Plan>, input: PlannerInput, timeoutMs: number): Promise<Plan> {
  try {
    return await withTimeout(Promise.resolve().then(() => planner(input)), timeoutMs, "planner");
  } catch (err) {
    return fallbackPlan(input, err instanceof TimeoutError ? `planner exceeded ${timeoutMs} ms` : `planner failed: ${errorMessage(err)}`);
  }
}
