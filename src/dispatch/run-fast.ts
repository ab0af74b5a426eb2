import type { Config } from "../config";
import type { Decision } from "../organism/decisions";
import { replicaName } from "../organism/replicas";
import type { TaskEnvelope, TaskOutcome } from "../organism/task-contracts";
import { callReplicas, type OrganCall, type OrganReply } from "./organ-calls";
import type { PassTally } from "./pass-tally";

type Fast = Extract<Decision, { kind: "fast" }>;

/** The fast-path outcome: `success` is the agent's own verdict, never assumed. */
function fastOutcome(task: TaskEnvelope, d: Fast, reply: OrganReply): TaskOutcome {
  if (!reply.ok) return { id: task.id, ok: false, retriable: true, error: reply.error, ...(reply.notRun ? { notRun: true as const, ...(reply.retryAfterMs === undefined ? {} : { retryAfterMs: reply.retryAfterMs }) } : {}) };
  const r = reply.result;
  const result: Record<string, unknown> = {
    success: r.success, path: "fast", organ_id: r.organ_id, replica: r.replica, agent_id: r.agent_id, p_fast: d.p_fast,
    latency_ms: r.latency_ms, result: r.result ?? null, ...(r.error ? { error: r.error } : {}),
  };
  if (r.success) return { id: task.id, ok: true, result };
  return { id: task.id, ok: false, retriable: r.retry, error: r.error ?? "task failed", result };
}

/** Fast-path tasks: one RPC per organ replica touched, concurrently. */
export async function runFast(items: readonly { task: TaskEnvelope; decision: Fast }[], call: OrganCall, timeoutMs: number, config: Config, tally: PassTally): Promise<TaskOutcome[]> {
  const jobs = items.map(({ task, decision }) => ({
    replica: replicaName(decision.organ_id, decision.replica),
    task: { id: task.id, type: task.type, params: task.params, description: task.description, domain: task.domain, attempt: task.attempt },
  }));
  const replies = await callReplicas(jobs, call, timeoutMs);
  return items.map(({ task, decision }) => {
    const reply = replies.get(task.id) as OrganReply;
    if (reply.ok) tally.organRun(decision.organ_id, reply.result.success, reply.result.latency_ms, config.FAST_PATH_LATENCY_SLO_MS);
    return fastOutcome(task, decision, reply);
  });
}
