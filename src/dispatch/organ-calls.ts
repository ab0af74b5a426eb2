import { CircuitOpenError } from "../lib/circuit-breaker";
import { errorMessage } from "../lib/error-message";
import { isOverloaded } from "../lib/retry";
import type { RunReport, TaskWork } from "../organism/organ-contracts";
import { OUTBOUND_CONNECTIONS, RPC_LIMITS, withMargin } from "../lib/platform-limits";
import { MAX_TASK_INPUT_BYTES } from "../schemas/task";
import type { AnyTaskDefinition } from "../tasks/define-task";

/** One task on one organ replica: its report when it ends (the client applies breaker, retry, timeout). */
export type OrganCall = (replicaName: string, work: TaskWork, timeoutMs: number) => Promise<RunReport>;

/** A group of tasks on one replica in one call, each report handed on as it ends. */
export type OrganGroupCall = (replicaName: string, works: TaskWork[], timeoutMs: number, onReport: (report: RunReport) => void) => Promise<void>;

/**
 * Tasks one organ call carries: the outgoing connections one request may hold (Workers and DOs
 * alike), so each task of a group can have one open at a time whatever its neighbours do.
 */
export const ORGAN_CALL_TASKS = OUTBOUND_CONNECTIONS;

/**
 * Tasks one organ call carries when their type opens no connections (`opens_connections: false`,
 * as every built-in): they hold none, so the connection limit does not bind, and fewer calls
 * cost less CPU per task. At most this many, and fewer when that many worst-case inputs and
 * results (`RESULT_MAX_BYTES` each) would pass the RPC budget: 22 at the 1 MiB maximum.
 */
export const QUIET_CALL_TASKS = 32;

/** How many tasks of this type one organ call carries. An executor, or code not known here, may open connections. */
export function callSizeOf(def: Pick<AnyTaskDefinition, "executor" | "opens_connections"> | undefined, config: { RESULT_MAX_BYTES: number }): number {
  if (def === undefined || def.executor !== undefined || def.opens_connections !== false) return ORGAN_CALL_TASKS;
  const perTask = config.RESULT_MAX_BYTES + MAX_TASK_INPUT_BYTES + 1024;
  return Math.max(ORGAN_CALL_TASKS, Math.min(QUIET_CALL_TASKS, Math.floor(withMargin(RPC_LIMITS.messageBytes) / perTask)));
}

export type OrganReply =
  | { ok: true; report: RunReport }
  /** `notRun`: the task never ran (open breaker, overloaded object, replica not initialized), so the attempt is given back. */
  | { ok: false; error: string; notRun: boolean; retryAfterMs?: number };

export function failure(replica: string, err: unknown): OrganReply {
  const error = `organ '${replica}' unavailable: ${errorMessage(err)}`;
  if (err instanceof CircuitOpenError) return { ok: false, error, notRun: true, retryAfterMs: err.retryAfterMs };
  // Overloaded is the runtime refusing the call: nothing ran, and retrying at once would add to
  // the overload, so the task takes its own retry with backoff.
  return { ok: false, error, notRun: isOverloaded(err) };
}

/** A report as the reply of its task (a task the organ did not run gets its attempt back). */
export function replyOf(replica: string, report: RunReport): OrganReply {
  if (report.not_run) return { ok: false, error: `organ '${replica}': ${report.verdict.ok ? "did not run it" : report.verdict.error}`, notRun: true };
  return { ok: true, report };
}

/**
 * A group's calls to its replica, a reply per task as it ends (`onReply`), never throwing: a
 * replica that cannot be reached, or a stream that breaks, fails only the tasks not yet reported.
 */
export async function callReplicaGroup(replica: string, works: TaskWork[], call: OrganGroupCall, timeoutMs: number, onReply: (id: string, reply: OrganReply) => void): Promise<void> {
  const open = new Set(works.map((w) => w.id));
  try {
    await call(replica, works, timeoutMs, (report) => {
      if (!open.delete(report.task_id)) return;
      onReply(report.task_id, replyOf(replica, report));
    });
    for (const id of open) onReply(id, { ok: false, error: `organ '${replica}' returned no result`, notRun: false });
  } catch (err) {
    for (const id of open) onReply(id, failure(replica, err));
  }
}

/** One task's call to its replica, as a reply that never throws: a replica that cannot be reached fails only this task. */
export async function callReplica(replica: string, work: TaskWork, call: OrganCall, timeoutMs: number): Promise<OrganReply> {
  try {
    return replyOf(replica, await call(replica, work, timeoutMs));
  } catch (err) {
    return failure(replica, err);
  }
}
