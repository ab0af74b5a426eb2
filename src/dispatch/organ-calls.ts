import { CircuitOpenError } from "../lib/circuit-breaker";
import { errorMessage } from "../lib/error-message";
import { isOverloaded } from "../lib/retry";
import type { OrganTask, OrganTaskResult } from "../organism/organ-contracts";

/** One call to one organ replica: its tasks in, their results out (the client handles held results). */
export type OrganCall = (replicaName: string, tasks: OrganTask[], timeoutMs: number) => Promise<OrganTaskResult[]>;

export type OrganReply =
  | { ok: true; result: OrganTaskResult }
  /** `notRun`: the call never reached the organ (open breaker, overloaded object), so the attempt is given back. */
  | { ok: false; error: string; notRun: boolean; retryAfterMs?: number };

function failure(replica: string, err: unknown): OrganReply {
  const error = `organ '${replica}' unavailable: ${errorMessage(err)}`;
  if (err instanceof CircuitOpenError) return { ok: false, error, notRun: true, retryAfterMs: err.retryAfterMs };
  // Overloaded is the runtime refusing the call: nothing ran, and retrying at once would add to
  // the overload, so the task takes its own retry with backoff.
  return { ok: false, error, notRun: isOverloaded(err) };
}

/**
 * One RPC per replica, all at once; each task's reply by task id. A replica that cannot be
 * reached fails only its own tasks.
 */
export async function callReplicas(jobs: readonly { replica: string; task: OrganTask }[], call: OrganCall, timeoutMs: number): Promise<Map<string, OrganReply>> {
  const byReplica = new Map<string, OrganTask[]>();
  for (const { replica, task } of jobs) byReplica.set(replica, [...(byReplica.get(replica) ?? []), task]);
  const replies = new Map<string, OrganReply>();
  await Promise.all(
    [...byReplica].map(async ([replica, tasks]) => {
      try {
        const results = new Map((await call(replica, tasks, timeoutMs)).map((r) => [r.task_id, r]));
        for (const t of tasks) {
          const result = results.get(t.id);
          if (!result) replies.set(t.id, { ok: false, error: `organ '${replica}' returned no result`, notRun: false });
          else if (result.not_run) replies.set(t.id, { ok: false, error: `organ '${replica}': ${result.error ?? "did not run it"}`, notRun: true });
          else replies.set(t.id, { ok: true, result });
        }
      } catch (err) {
        for (const t of tasks) replies.set(t.id, failure(replica, err));
      }
    }),
  );
  return replies;
}
