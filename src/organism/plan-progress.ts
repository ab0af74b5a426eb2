import type { Plan, PlanStep } from "./planner";

/** A finished step of a durable plan, as stored with the task. */
export interface StepOutcome {
  organ_id: string;
  replica: number;
  agent_id: string | null;
  result: unknown;
  at: number;
}

/**
 * An escalation plan with its progress: `done[i]` is step i's outcome, so `done.length` is the
 * first unfinished step. Stored in the task row, so a retry, a crash or an expired lease resumes
 * there and never runs a finished step again.
 */
export interface StoredPlan extends Plan {
  done: StepOutcome[];
}

/** Step `index` of `taskId` as the organ sees it (its id is what an organ's history records). */
export const stepTaskId = (taskId: string, index: number) => `${taskId}:step:${index + 1}`;

/** `{organ_id, success, task, result, error}` per step run so far: the seeds' result shape. */
export function solutionSteps(plan: StoredPlan, failed?: { step: PlanStep; error: string; result: unknown }) {
  const done = plan.done.map((d, i) => ({ organ_id: d.organ_id, success: true, task: (plan.steps[i] as PlanStep).task, result: d.result, error: null }));
  return failed ? [...done, { organ_id: failed.step.organ_id, success: false, task: failed.step.task, result: failed.result, error: failed.error }] : done;
}
