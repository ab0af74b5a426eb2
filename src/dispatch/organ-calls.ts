import { CircuitOpenError } from "../lib/circuit-breaker";
import { errorMessage } from "../lib/error-message";
import { isOverloaded } from "../lib/retry";
import type { RunReport, TaskWork } from "../organism/organ-contracts";

/** One task on one organ replica: its report when it ends (the client applies breaker, retry, timeout). */
export type OrganCall = (replicaName: string, work: TaskWork, timeoutMs: number) => Promise<RunReport>;

export type OrganReply =
  | { ok: true; report: RunReport }
  /** `notRun`: the task never ran (open breaker, overloaded object, replica not initialized), so the attempt is given back. */
  | { ok: false; error: string; notRun: boolean; retryAfterMs?: number };

function failure(replica: string, err: unknown): OrganReply {
  const error = `organ '${replica}' unavailable: ${errorMessage(err)}`;
  if (err instanceof CircuitOpenError) return { ok: false, error, notRun: true, retryAfterMs: err.retryAfterMs };
  // Overloaded is the runtime refusing the call: nothing ran, and retrying at once would add to
  // the overload, so the task takes its own retry with backoff.
  return { ok: false, error, notRun: isOverloaded(err) };
}

/** One task's call to its replica, as a reply that never throws: a replica that cannot be reached fails only this task. */
export async function callReplica(replica: string, work: TaskWork, call: OrganCall, timeoutMs: number): Promise<OrganReply> {
  try {
    const report = await call(replica, work, timeoutMs);
    if (report.not_run) return { ok: false, error: `organ '${replica}': ${report.verdict.ok ? "did not run it" : report.verdict.error}`, notRun: true };
    return { ok: true, report };
  } catch (err) {
    return failure(replica, err);
  }
}
