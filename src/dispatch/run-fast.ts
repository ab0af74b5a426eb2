import type { Config } from "../config";
import type { Decision } from "../organism/decisions";
import { replicaName } from "../organism/replicas";
import type { OutcomeSink, TaskEnvelope, TaskOutcome } from "../organism/task-contracts";
import type { TaskWork } from "../tasks/run-task";
import { callReplica, type OrganCall, type OrganReply } from "./organ-calls";
import { RUN_GRACE_MS } from "./pass-limits";
import type { PassTally } from "./pass-tally";

type Fast = Extract<Decision, { kind: "fast" }>;

/** The fast-path outcome: the task's own verdict, with where it ran as its execution. */
function fastOutcome(task: TaskEnvelope, d: Fast, reply: OrganReply): TaskOutcome {
  if (!reply.ok) return { id: task.id, ok: false, retriable: true, error: reply.error, ...(reply.notRun ? { notRun: true as const, ...(reply.retryAfterMs === undefined ? {} : { retryAfterMs: reply.retryAfterMs }) } : {}) };
  const { verdict, organ_id, replica, agent_id, latency_ms } = reply.report;
  const execution = { path: "fast", organ_id, replica, agent_id, p_fast: d.p_fast, latency_ms, ...(verdict.ok ? {} : verdict.timedOut ? { timed_out: true } : {}) };
  if (verdict.ok) return { id: task.id, ok: true, result: verdict.result, execution };
  return { id: task.id, ok: false, retriable: verdict.retriable, error: verdict.error, execution, ...(verdict.retryAfterMs === undefined ? {} : { retryAfterMs: verdict.retryAfterMs }), ...(verdict.notRun ? { notRun: true as const } : {}) };
}

/** What the organ gets of a claimed task: its work, without what only the dispatcher reads. */
export function toWork(task: TaskEnvelope): TaskWork {
  const { id, type, params, description, domain, attempt, token, deadline, parents, last_heartbeat } = task;
  return { id, type, params, description, domain, attempt, token, deadline, parents, last_heartbeat };
}


/**
 * Fast-path tasks: one organ call per task, all at once; each outcome goes to the sink the moment
 * its task ends, so a slow task holds back no other.
 */
export async function runFast(items: readonly { task: TaskEnvelope; decision: Fast }[], call: OrganCall, abort: (replica: string, ids: string[]) => Promise<void>, now: () => number, config: Config, tally: PassTally, sink: OutcomeSink): Promise<void> {
  await Promise.all(
    items.map(async ({ task, decision }) => {
      const replica = replicaName(decision.organ_id, decision.replica);
      sink.started(task.id, () => abort(replica, [task.id]));
      const reply = await callReplica(replica, toWork(task), call, Math.max(0, task.deadline - now()) + RUN_GRACE_MS);
      if (reply.ok) tally.organRun(decision.organ_id, reply.report.verdict.ok, reply.report.latency_ms, config.FAST_PATH_LATENCY_SLO_MS);
      const outcome = fastOutcome(task, decision, reply);
      tally.outcome(outcome);
      sink.outcome(outcome);
    }),
  );
}
