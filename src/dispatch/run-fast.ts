import type { Config } from "../config";
import type { Decision } from "../organism/decisions";
import { replicaName } from "../organism/replicas";
import type { OutcomeSink, TaskEnvelope, TaskOutcome } from "../organism/task-contracts";
import type { TaskWork } from "../tasks/run-task";
import { definitionFor } from "../tasks/registry";
import { callReplicaGroup, callSizeOf, type OrganGroupCall, type OrganReply } from "./organ-calls";
import { RUN_GRACE_MS } from "./pass-limits";
import type { PassTally } from "./pass-tally";

type Fast = Extract<Decision, { kind: "fast" }>;

/** The fast-path outcome: the task's own verdict, with where it ran as its execution. */
function fastOutcome(task: TaskEnvelope, d: Fast, reply: OrganReply): TaskOutcome {
  if (!reply.ok) return { id: task.id, ok: false, retriable: true, error: reply.error, ...(reply.notRun ? { notRun: true as const, ...(reply.retryAfterMs === undefined ? {} : { retryAfterMs: reply.retryAfterMs }) } : {}) };
  const { verdict, organ_id, replica, agent_id, latency_ms } = reply.report;
  const execution = { path: "fast", organ_id, replica, agent_id, p_fast: d.p_fast, latency_ms, ...(verdict.ok ? {} : verdict.timedOut ? { timed_out: true } : {}) };
  if (verdict.ok) return { id: task.id, ok: true, result: verdict.result, execution };
  return { id: task.id, ok: false, retriable: verdict.retriable, error: verdict.error, execution, ...(verdict.retryAfterMs === undefined ? {} : { retryAfterMs: verdict.retryAfterMs }), ...(verdict.notRun ? { notRun: true as const } : {}), ...(verdict.handOff === undefined ? {} : { handOff: verdict.handOff }) };
}

/** What the organ gets of a claimed task: its work, without what only the dispatcher reads. */
export function toWork(task: TaskEnvelope): TaskWork {
  const { id, type, params, description, domain, attempt, token, deadline, parents, last_heartbeat } = task;
  return { id, type, params, description, domain, attempt, token, deadline, parents, last_heartbeat };
}


/**
 * Fast-path tasks: one organ call per group of up to ORGAN_CALL_TASKS tasks of a replica (up to
 * QUIET_CALL_TASKS of types that open no connections), all at once; each outcome goes to the sink
 * the moment its task ends (the organ streams the reports), so a slow task holds back no other,
 * and no call holds more tasks than it has outgoing connections.
 */
export async function runFast(items: readonly { task: TaskEnvelope; decision: Fast }[], call: OrganGroupCall, abort: (replica: string, ids: string[]) => Promise<void>, now: () => number, config: Config, tally: PassTally, sink: OutcomeSink): Promise<void> {
  const byCall = new Map<string, { replica: string; size: number; items: { task: TaskEnvelope; decision: Fast }[] }>();
  // A pass holds few types: each type's call size is looked up once.
  const sizes = new Map<string, number>();
  for (const item of items) {
    const replica = replicaName(item.decision.organ_id, item.decision.replica);
    let size = sizes.get(item.task.type);
    if (size === undefined) sizes.set(item.task.type, (size = callSizeOf(definitionFor(item.task.type, config), config)));
    const key = `${size}|${replica}`;
    const entry = byCall.get(key) ?? { replica, size, items: [] };
    entry.items.push(item);
    byCall.set(key, entry);
  }
  const calls: Promise<void>[] = [];
  for (const { replica, size, items: all } of byCall.values()) {
    for (let i = 0; i < all.length; i += size) {
      const group = all.slice(i, i + size);
      const byId = new Map(group.map((g) => [g.task.id, g]));
      for (const { task } of group) sink.started(task.id, () => abort(replica, [task.id]));
      const timeoutMs = Math.max(0, Math.max(...group.map((g) => g.task.deadline)) - now()) + RUN_GRACE_MS;
      calls.push(
        callReplicaGroup(replica, group.map((g) => toWork(g.task)), call, timeoutMs, (id, reply) => {
          const item = byId.get(id);
          if (!item) return;
          if (reply.ok) tally.organRun(item.decision.organ_id, reply.report.verdict.ok, reply.report.latency_ms, config.FAST_PATH_LATENCY_SLO_MS);
          const outcome = fastOutcome(item.task, item.decision, reply);
          tally.outcome(outcome);
          sink.outcome(outcome);
        }),
      );
    }
  }
  await Promise.all(calls);
}
