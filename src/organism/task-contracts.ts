import type { StoredPlan } from "./plan-progress";

/** A claimed task as the dispatcher runs it, and the verdict it records for it. */

/** One claimed task. */
export interface TaskEnvelope {
  id: string;
  type: string;
  params: Record<string, unknown>;
  description: string | null;
  domain: string | null;
  drift_score: number;
  /** 1-based number of this attempt (the task's `attempts` after the claim). */
  attempt: number;
  /** An escalation plan stored by an earlier attempt: it resumes there. */
  plan?: StoredPlan | null;
}

/** The verdict for one task. `result` is stored as-is on success. */
export type TaskOutcome =
  | { id: string; ok: true; result: Record<string, unknown> }
  | {
      id: string;
      ok: false;
      /** false: permanent (unknown type, invalid params, handler said retry:false). */
      retriable: boolean;
      error: string;
      result?: Record<string, unknown>;
      /** The task was refused before it ran (load shedding, open circuit): the attempt is given back. */
      notRun?: true;
      /** With notRun: when to try again (an open circuit's recovery time); else one backoff step. */
      retryAfterMs?: number;
    };
