import type { TaskWork } from "../tasks/run-task";

/** A claimed task as the dispatcher runs it, and the verdict it records for it. */

/** One claimed task: what its code gets (TaskWork), and what the coordinator decides by. */
export interface TaskEnvelope extends TaskWork {
  drift_score: number;
}

/** How a task ran (path, organ, replica, agent, p_fast, latency, plan): the task's `execution`. */
export type Execution = Record<string, unknown>;

/** The verdict for one task. `result` is what the task's code returned, stored as-is on success. */
export type TaskOutcome =
  | { id: string; ok: true; result: unknown; execution?: Execution }
  | {
      id: string;
      ok: false;
      /** false: permanent (unknown type, invalid params, PermanentError). */
      retriable: boolean;
      error: string;
      result?: unknown;
      execution?: Execution;
      /** The task was refused before it ran (load shedding, open circuit): the attempt is given back. */
      notRun?: true;
      /** When to try again: with notRun, an open circuit's recovery time; else a RetryAfterError's time. Default: backoff. */
      retryAfterMs?: number;
      /** An http endpoint accepted the work (202): the task stays running under its lease until then (epoch ms). */
      handOff?: number;
    };

/** Where a pass's outcomes go as each task ends, and how a running task is stopped. */
export interface OutcomeSink {
  outcome(outcome: TaskOutcome): void;
  /** The task is running somewhere `abort` can reach (cancel, lost lease). */
  started(id: string, abort: () => Promise<void>): void;
}
