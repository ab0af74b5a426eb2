import type { Config } from "../config";
import { errorMessage } from "../lib/error-message";
import type { Decision, OrganismView } from "../organism/decisions";
import { solutionSteps, stepTaskId, type StepOutcome, type StoredPlan } from "../organism/plan-progress";
import { cognitiveBackend, cognitivePlan, type AiBinding } from "../organism/cognitive-planner";
import { fallbackPlan, planEscalation, planWithTimeout, type PlannerInput, type PlanStep } from "../organism/planner";
import { replicaName, replicaOf } from "../organism/replicas";
import type { TaskEnvelope, TaskOutcome } from "../organism/task-contracts";
import type { TaskWork } from "../tasks/run-task";
import { callReplica, type OrganCall } from "./organ-calls";
import type { PassTally } from "./pass-tally";

type Escalate = Extract<Decision, { kind: "escalate" }>;

/**
 * Where plans and their progress are kept: the tasks' steps (a pass: `task_steps`, the rows
 * ctx.step writes), or nowhere (a synchronous call).
 */
export interface PlanStore {
  /** The plans earlier attempts stored, with their finished steps. */
  load(ids: readonly string[]): Promise<Map<string, StoredPlan>>;
  save(plans: readonly { id: string; plan: StoredPlan }[]): Promise<void>;
  recordSteps(steps: readonly { id: string; index: number; total: number; outcome: StepOutcome; message: string }[]): Promise<void>;
}

/** For `/organism/handle-task`: nothing to resume, so nothing to keep. */
export const UNSTORED_PLANS: PlanStore = { load: async () => new Map(), save: async () => undefined, recordSteps: async () => undefined };

export interface PlanContext {
  organism: OrganismView;
  config: Config;
  call: OrganCall;
  plans: PlanStore;
  /** When the pass's time is up (epoch ms). */
  deadline: number;
  now: () => number;
  tally: PassTally;
  /** The Workers AI binding (`env.AI`), if bound: a cognitive planner backend (see cognitiveBackend). */
  ai?: AiBinding;
}

interface Running {
  task: TaskEnvelope;
  decision: Escalate;
  plan: StoredPlan;
  /** The plan was stored by an earlier attempt (a resume). */
  stored: boolean;
}

/** How an escalated task ran: its plan, each step's organ and result. */
const execution = (r: Running, failed?: Parameters<typeof solutionSteps>[1]): Record<string, unknown> => ({
  path: "escalation",
  kind: "escalated",
  plan_source: r.plan.plan_source,
  ...(r.plan.fallback_reason ? { fallback_reason: r.plan.fallback_reason } : {}),
  solution_steps: solutionSteps(r.plan, failed),
  p_fast: r.decision.p_fast,
  ...(failed ? { error: failed.error } : {}),
});

async function planFor(task: TaskEnvelope, decision: Escalate, ctx: PlanContext): Promise<StoredPlan> {
  const input: PlannerInput = {
    task,
    routedOrganId: decision.organ_id,
    knownOrgans: new Set(ctx.organism.organs.map((o) => o.organ_id)),
    routing: ctx.organism.routing,
    maxSteps: ctx.config.MAX_PLAN_STEPS,
  };
  const plan = decision.fallback_reason
    ? fallbackPlan(input, decision.fallback_reason)
    : cognitiveBackend(ctx.config, ctx.ai)
      ? await cognitivePlan(input, ctx.config, { now: ctx.now, random: Math.random /* retry jitter only */, deadline: ctx.deadline, ...(ctx.ai ? { ai: ctx.ai } : {}) })
      : await planWithTimeout(planEscalation, input, ctx.config.COGNITIVE_TIMEOUT_S * 1000);
  if (plan.plan_source === "fallback") ctx.tally.fallbackPlan();
  return { ...plan, done: [] };
}

/**
 * Escalated tasks: the plan is made once (with the shared planner) and stored as a step before
 * step 1 runs; then round by round every task's next step runs, one organ call per task, and each
 * finished step is stored (as ctx.step stores one) before the next. A retry, a crash or an expired
 * lease resumes at the first unfinished step, so a finished step (a side effect) never runs again.
 */
export async function runPlans(items: readonly { task: TaskEnvelope; decision: Escalate }[], ctx: PlanContext): Promise<Map<string, TaskOutcome>> {
  const outcomes = new Map<string, TaskOutcome>();
  if (items.length === 0) return outcomes;
  let stored: Map<string, StoredPlan>;
  try {
    stored = await ctx.plans.load(items.map((i) => i.task.id));
  } catch (err) {
    // Nothing has run: the tasks come back with their attempt given back.
    for (const { task } of items) outcomes.set(task.id, { id: task.id, ok: false, retriable: true, notRun: true, error: `stored plans could not be read: ${errorMessage(err)}` });
    return outcomes;
  }
  const all: Running[] = await Promise.all(
    items.map(async ({ task, decision }) => {
      const plan = stored.get(task.id);
      return { task, decision, plan: plan ?? (await planFor(task, decision, ctx)), stored: plan !== undefined };
    }),
  );
  const fresh = all.filter((r) => !r.stored);
  let active = all;
  if (fresh.length > 0) {
    try {
      await ctx.plans.save(fresh.map((r) => ({ id: r.task.id, plan: r.plan })));
    } catch (err) {
      // Nothing has run: these tasks come back with their attempt given back.
      for (const r of fresh) outcomes.set(r.task.id, { id: r.task.id, ok: false, retriable: true, notRun: true, error: `plan could not be stored: ${errorMessage(err)}` });
      active = all.filter((r) => r.stored);
    }
  }
  const replicas = new Map(ctx.organism.organs.map((o) => [o.organ_id, o.replicas]));
  while (active.length > 0) {
    const timeLeft = ctx.deadline - ctx.now();
    const jobs = active.map((r) => {
      const index = r.plan.done.length;
      const step = r.plan.steps[index] as PlanStep;
      const id = stepTaskId(r.task.id, index);
      // A step's own context is not stored (its progress is the plan's, stored below).
      const task: TaskWork = {
        id, type: step.task.type, params: step.task.params, description: step.task.description, domain: step.task.domain,
        attempt: r.task.attempt, token: null, deadline: ctx.deadline, parents: null, last_heartbeat: null,
      };
      return { r, index, step, replica: replicaName(step.organ_id, replicaOf(id, replicas.get(step.organ_id) ?? 1)), task };
    });
    if (timeLeft <= 0) {
      for (const { r, index } of jobs) outcomes.set(r.task.id, { id: r.task.id, ok: false, retriable: true, error: `escalation ran out of time before step ${index + 1}`, execution: execution(r) });
      break;
    }
    const replies = new Map(await Promise.all(jobs.map(async (j) => [j.task.id, await callReplica(j.replica, j.task, ctx.call, timeLeft)] as const)));
    const finished: { id: string; index: number; total: number; outcome: StepOutcome; message: string }[] = [];
    const next: Running[] = [];
    for (const { r, index, step, task } of jobs) {
      const reply = replies.get(task.id);
      const of = `step ${index + 1}/${r.plan.steps.length}`;
      const verdict = reply?.ok ? reply.report.verdict : null;
      if (reply?.ok) ctx.tally.organRun(step.organ_id, reply.report.verdict.ok, null, Infinity);
      if (reply?.ok && verdict?.ok) {
        const outcome: StepOutcome = { organ_id: step.organ_id, replica: reply.report.replica, agent_id: reply.report.agent_id, result: verdict.result, at: ctx.now() };
        r.plan.done.push(outcome);
        finished.push({ id: r.task.id, index, total: r.plan.steps.length, outcome, message: `${of} completed on ${step.organ_id}` });
        // The plan's result is its last step's.
        if (r.plan.done.length === r.plan.steps.length) outcomes.set(r.task.id, { id: r.task.id, ok: true, result: verdict.result, execution: execution(r) });
        else next.push(r);
        continue;
      }
      const error = `${of} failed on ${step.organ_id}: ${reply ? (reply.ok ? (verdict && !verdict.ok ? verdict.error : "task failed") : reply.error) : "no reply"}`;
      const failed = execution(r, { step, error, result: null });
      const retriable = verdict && !verdict.ok ? verdict.retriable : true;
      const notRun = (reply !== undefined && !reply.ok && reply.notRun) || (verdict !== null && !verdict.ok && verdict.notRun === true);
      outcomes.set(r.task.id, { id: r.task.id, ok: false, retriable, error, execution: failed, ...(notRun ? { notRun: true as const } : {}) });
    }
    if (finished.length > 0) {
      // Best effort: a step whose progress was not stored runs again if the task is retried.
      await ctx.plans.recordSteps(finished).catch((err: unknown) => console.error("plan progress could not be stored", err));
    }
    active = next;
  }
  return outcomes;
}
