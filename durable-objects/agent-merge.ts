import { memUtil, QUALITY_WINDOW, TASK_HISTORY, updateCapability } from "../src/organism/agent-scoring";
import type { AgentExport } from "./agent-store";

/**
 * One agent from two copies of it that learned separately: the copy a replica started (or kept
 * running tasks on) while the agent was on its way to or from it. The copy with more tasks is
 * the base and the other's tasks are replayed after it, so counts and histories add up exactly
 * and capability follows the same update rule (exactly, while the replayed copy kept all its
 * records; a copy past TASK_HISTORY tasks has already forgotten its base to within 0.9^100).
 */
export function mergeAgents(a: AgentExport, b: AgentExport): AgentExport {
  const [base, extra] = b.agent.tasks_processed > a.agent.tasks_processed ? [b, a] : [a, b];
  const records = [...base.records, ...extra.records].slice(-TASK_HISTORY);
  const last = [base.agent.last_task_at, extra.agent.last_task_at].filter((t): t is number => t !== null);
  return {
    agent: {
      ...base.agent,
      capability: extra.records.reduce((c, r) => updateCapability(c, r.success, r.quality), base.agent.capability),
      tasks_processed: base.agent.tasks_processed + extra.agent.tasks_processed,
      successes: base.agent.successes + extra.agent.successes,
      failures: base.agent.failures + extra.agent.failures,
      quality_scores: [...base.agent.quality_scores, ...extra.agent.quality_scores].slice(-QUALITY_WINDOW),
      history_size: records.length,
      mem_util: memUtil(records.length),
      last_task_at: last.length > 0 ? Math.max(...last) : null,
    },
    records,
  };
}
