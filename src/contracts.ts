/**
 * What crosses the line between the dispatcher (Worker) and the coordinator (OrganismManager DO).
 * Plain serialisable shapes: they travel over Durable Object RPC.
 */

/** One claimed task handed to the coordinator. */
export interface TaskEnvelope {
  id: string;
  type: string;
  params: Record<string, unknown>;
  description: string | null;
  domain: string | null;
  drift_score: number;
  /** 1-based number of this attempt (the task's `attempts` after the claim). */
  attempt: number;
}

/** The coordinator's verdict for one task. `result` is stored as-is on success. */
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
