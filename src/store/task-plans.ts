import { sql } from "drizzle-orm";
import type { PlanStore } from "../dispatch/run-plans";
import { chunkJsonArray, D1_JSON_BUDGET_BYTES } from "../lib/platform-limits";
import type { StepOutcome, StoredPlan } from "../organism/plan-progress";
import type { Plan } from "../organism/planner";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { timelineEntry } from "./timeline-codec";
import { appendTimelineEntry } from "./transition";

/**
 * An escalation plan is kept the way ctx.step keeps a task's steps (one mechanism): rows of
 * `task_steps`, the plan itself under `plan` and each finished step i under `plan:<i>`. A retry
 * loads them and resumes at the first step without a row. Writes are fenced like outcomes
 * (`status='running' AND locked_by=<token>`): a pass that lost its claim stores nothing.
 */
export const PLAN_STEP = "plan";
const planStepName = (index: number) => `${PLAN_STEP}:${index + 1}`;
const isPlanRow = sql`(name = ${PLAN_STEP} OR name GLOB 'plan:[0-9]*')`;

/** The plan of each task that has one, with its finished steps in order (a contiguous prefix). */
async function loadPlans(db: Db, ids: readonly string[]): Promise<Map<string, StoredPlan>> {
  const plans = new Map<string, StoredPlan>();
  if (ids.length === 0) return plans;
  const rows: { task_id: string; name: string; result: string }[] = [];
  for (const chunk of chunkJsonArray(ids, D1_JSON_BUDGET_BYTES)) {
    rows.push(...(await db.all<{ task_id: string; name: string; result: string }>(sql`
      SELECT task_id, name, result FROM task_steps
      WHERE task_id IN (SELECT value FROM json_each(${chunk.json})) AND ${isPlanRow}`)));
  }
  const done = new Map<string, Map<number, StepOutcome>>();
  for (const r of rows) {
    if (r.name === PLAN_STEP) plans.set(r.task_id, { ...(JSON.parse(r.result) as Plan), done: [] });
    else {
      const steps = done.get(r.task_id) ?? new Map<number, StepOutcome>();
      steps.set(Number(r.name.slice(PLAN_STEP.length + 1)) - 1, JSON.parse(r.result) as StepOutcome);
      done.set(r.task_id, steps);
    }
  }
  for (const [id, plan] of plans) {
    const steps = done.get(id);
    for (let i = 0; steps?.has(i); i++) plan.done.push(steps.get(i) as StepOutcome);
  }
  return plans;
}

export function taskPlanStore(db: Db, token: string, now: () => number): PlanStore {
  const fenced = sql`t.id = j.value->>'id' AND +t.status = 'running' AND t.locked_by = ${token}`;
  return {
    load: (ids) => loadPlans(db, ids),
    async save(plans) {
      const at = now();
      const rows = plans.map(({ id, plan: { done: _, ...plan } }) => ({ id, plan }));
      for (const chunk of chunkJsonArray(rows, D1_JSON_BUDGET_BYTES)) {
        await db.run(sql`
          INSERT INTO task_steps (task_id, name, result, created_at)
          SELECT t.id, ${PLAN_STEP}, json(j.value->'plan'), ${at} FROM json_each(${chunk.json}) AS j JOIN tasks AS t ON ${fenced}
          ON CONFLICT (task_id, name) DO NOTHING`);
      }
    },
    async recordSteps(steps) {
      const at = now();
      const rows = steps.map((s) => ({ id: s.id, name: planStepName(s.index), outcome: s.outcome, message: s.message, done: s.index + 1, total: s.total }));
      const entry = timelineEntry({ at, createdAt: sql`tasks.created_at`, from: sql`'running'`, to: sql`'running'`, attempt: sql`tasks.attempts`, actor: "dispatcher", message: sql`j.value->>'message'` });
      for (const chunk of chunkJsonArray(rows, D1_JSON_BUDGET_BYTES)) {
        // The step's row, and in the same transaction its timeline entry and the task's progress.
        await sqlBatch(db, [
          sql`INSERT INTO task_steps (task_id, name, result, created_at)
              SELECT t.id, j.value->>'name', json(j.value->'outcome'), ${at} FROM json_each(${chunk.json}) AS j JOIN tasks AS t ON ${fenced}
              ON CONFLICT (task_id, name) DO NOTHING`,
          sql`UPDATE tasks SET events = ${appendTimelineEntry(entry)}, updated_at = ${at},
                progress = json_object('current', j.value->'done', 'total', j.value->'total', 'message', j.value->>'message', 'at', ${at})
              FROM json_each(${chunk.json}) AS j
              WHERE tasks.id = j.value->>'id' AND +tasks.status = 'running' AND tasks.locked_by = ${token}`,
        ]);
      }
    },
  };
}

/** A plan as a task's JSON shows it: its steps and which are done (no step results). */
export interface PlanView {
  plan_source: Plan["plan_source"];
  fallback_reason?: string;
  steps: { organ_id: string; type: string; done: boolean; finished_at: number | null }[];
}

/** The plans of these tasks for their JSON: the plan rows and the finished steps' times, one read. */
export async function readPlanViews(db: Db, ids: readonly string[]): Promise<Map<string, PlanView>> {
  const views = new Map<string, PlanView>();
  if (ids.length === 0) return views;
  const rows = await db.all<{ task_id: string; name: string; plan: string | null; created_at: number }>(sql`
    SELECT task_id, name, CASE WHEN name = ${PLAN_STEP} THEN result END AS plan, created_at FROM task_steps
    WHERE task_id IN (SELECT value FROM json_each(${JSON.stringify(ids)})) AND ${isPlanRow}`);
  const finished = new Map<string, number>();
  for (const r of rows) if (r.name !== PLAN_STEP) finished.set(`${r.task_id}|${Number(r.name.slice(PLAN_STEP.length + 1)) - 1}`, r.created_at);
  for (const r of rows) {
    if (r.name !== PLAN_STEP || r.plan === null) continue;
    const plan = JSON.parse(r.plan) as Plan;
    views.set(r.task_id, {
      plan_source: plan.plan_source,
      ...(plan.fallback_reason ? { fallback_reason: plan.fallback_reason } : {}),
      steps: plan.steps.map((s, i) => {
        const at = finished.get(`${r.task_id}|${i}`) ?? null;
        return { organ_id: s.organ_id, type: s.task.type, done: at !== null, finished_at: at };
      }),
    });
  }
  return views;
}
