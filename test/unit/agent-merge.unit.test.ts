import { describe, expect, it } from "vitest";
import { mergeAgents } from "../../durable-objects/agent-merge";
import { newAgent, type AgentExport, type TaskRecord } from "../../durable-objects/agent-store";
import { memUtil, QUALITY_WINDOW, ROLE_PROBS, TASK_HISTORY, updateCapability } from "../../src/organism/agent-scoring";

const record = (i: number, success: boolean, quality: number): TaskRecord => ({
  agent_id: "o_agent_1", task_id: `t${i}`, task_type: "ping", success, quality, latency_ms: 1, error: success ? null : "boom", at: 1_000 + i,
});

/** An agent as `record` would leave it after running `records` in order from a fresh start (or from `from`). */
function ran(records: TaskRecord[], from: AgentExport = { agent: newAgent("o", 1, ROLE_PROBS.Utility), records: [] }): AgentExport {
  const agent = { ...from.agent };
  for (const r of records) {
    agent.capability = updateCapability(agent.capability, r.success, r.quality);
    agent.tasks_processed++;
    if (r.success) agent.successes++;
    else agent.failures++;
    agent.quality_scores = [...agent.quality_scores, r.quality].slice(-QUALITY_WINDOW);
    agent.last_task_at = r.at;
  }
  const all = [...from.records, ...records].slice(-TASK_HISTORY);
  return { agent: { ...agent, history_size: all.length, mem_util: memUtil(all.length) }, records: all };
}

describe("mergeAgents", () => {
  it("a fresh copy's tasks merged into the agent give the agent that ran them all in turn, whichever copy comes first", () => {
    const before = Array.from({ length: 30 }, (_, i) => record(i, i % 4 !== 0, i % 4 === 0 ? 0 : 0.9));
    const later = [record(30, true, 1), record(31, false, 0), record(32, true, 0.5)];
    const agent = ran(before);
    const copy = ran(later);
    const expected = ran(later, agent);
    for (const merged of [mergeAgents(agent, copy), mergeAgents(copy, agent)]) {
      expect(merged.agent.capability).toBeCloseTo(expected.agent.capability, 12);
      expect({ ...merged.agent, capability: 0 }).toEqual({ ...expected.agent, capability: 0 });
      expect(merged.records).toEqual(expected.records);
    }
    expect(expected.agent).toMatchObject({ tasks_processed: 33, successes: 24, failures: 9, last_task_at: 1_032 });
  });

  it("keeps at most TASK_HISTORY records and QUALITY_WINDOW scores, the newest", () => {
    const agent = ran(Array.from({ length: TASK_HISTORY }, (_, i) => record(i, true, 1)));
    const copy = ran([record(TASK_HISTORY, false, 0)]);
    const merged = mergeAgents(agent, copy);
    expect(merged.records).toHaveLength(TASK_HISTORY);
    expect(merged.records[0]!.task_id).toBe("t1");
    expect(merged.records.at(-1)!.task_id).toBe(`t${TASK_HISTORY}`);
    expect(merged.agent.quality_scores).toHaveLength(QUALITY_WINDOW);
    expect(merged.agent.quality_scores.at(-1)).toBe(0);
    expect(merged.agent).toMatchObject({ tasks_processed: TASK_HISTORY + 1, history_size: TASK_HISTORY, mem_util: 1 });
  });

  it("two copies that never ran a task merge into one untouched agent", () => {
    const fresh = ran([]);
    expect(mergeAgents(fresh, ran([]))).toEqual(fresh);
  });
});
