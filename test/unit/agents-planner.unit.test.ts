import { describe, expect, it } from "vitest";
import { agentScore, pickBestAgent, roleEntropy, ROLE_PROBS, updateCapability } from "../../src/organism/agent-scoring";
import type { TaskEnvelope } from "../../src/organism/task-contracts";
import { DEFAULT_ORGANISM_CONFIG } from "../../src/organism/organism-config";
import { planEscalation, planWithTimeout, type PlannerInput } from "../../src/organism/planner";
import { buildRoutingTable } from "../../src/organism/routing";

describe("agent scoring", () => {
  const u = ROLE_PROBS.Utility;
  it("score is (1-c) - 0.2 H(p) + 0.09 mem_util", () => {
    const a = { agent_id: "a", capability: 0.7, mem_util: 0.5, role_probs: u };
    expect(agentScore(a)).toBeCloseTo(0.3 - 0.2 * roleEntropy(u) + 0.045);
    expect(roleEntropy({ E: 1, S: 0, O: 0 })).toBe(0);
  });
  it("picks the lowest score, first on ties", () => {
    const agents = [
      { agent_id: "a0", capability: 0.5, mem_util: 0, role_probs: u },
      { agent_id: "a1", capability: 0.6, mem_util: 0.9, role_probs: u }, // 0.4 + 0.081 beats 0.5
      { agent_id: "a2", capability: 0.6, mem_util: 0.9, role_probs: u },
    ];
    expect(pickBestAgent(agents)?.agent_id).toBe("a1");
    // A more versatile (higher entropy) agent wins at equal capability.
    const versatile = [
      { agent_id: "act", capability: 0.5, mem_util: 0, role_probs: ROLE_PROBS.Actuator },
      { agent_id: "uti", capability: 0.5, mem_util: 0, role_probs: ROLE_PROBS.Utility },
    ];
    expect(pickBestAgent(versatile)?.agent_id).toBe("uti");
  });
  it("capability update follows c = 0.9c + 0.1(0.6 s + 0.4 q)", () => {
    expect(updateCapability(0.5, true, 1)).toBeCloseTo(0.55);
    expect(updateCapability(0.5, false, 0)).toBeCloseTo(0.45);
    expect(updateCapability(0.5, true, 0.5)).toBeCloseTo(0.45 + 0.1 * (0.6 + 0.2));
  });
});

describe("planner", () => {
  const task = (params: Record<string, unknown>): TaskEnvelope => ({
    id: "t", type: "general_query", params, description: "d", domain: null, drift_score: 0.9, attempt: 1, token: null, deadline: 0, parents: null, last_heartbeat: null,
  });
  const input = (params: Record<string, unknown>, maxSteps = 16): PlannerInput => ({
    task: task(params), routedOrganId: "utility_organ_1", maxSteps, routing: buildRoutingTable(DEFAULT_ORGANISM_CONFIG),
    knownOrgans: new Set(DEFAULT_ORGANISM_CONFIG.organs.map((o) => o.organ_id)),
  });
  const step = (organ_id: string) => ({ organ_id, task: { type: "ping" } });

  it("uses a valid params.plan", () => {
    const plan = planEscalation(input({ plan: [step("utility_organ_1"), step("actuator_organ_1")] }));
    expect(plan.plan_source).toBe("params");
    expect(plan.steps.map((s) => s.organ_id)).toEqual(["utility_organ_1", "actuator_organ_1"]);
  });
  it("falls back when the plan is longer than MAX_PLAN_STEPS", () => {
    const plan = planEscalation(input({ plan: [step("utility_organ_1"), step("utility_organ_1"), step("utility_organ_1")] }, 2));
    expect(plan).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringContaining("MAX_PLAN_STEPS") });
    expect(plan.steps).toEqual([{ organ_id: "utility_organ_1", task: { type: "general_query", params: expect.any(Object), description: "d", domain: null } }]);
  });
  it("falls back when a step names an unknown organ", () => {
    const plan = planEscalation(input({ plan: [step("ghost_organ")] }));
    expect(plan).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringContaining("ghost_organ") });
  });
  it("decomposes when forced: plan, do, analyze", () => {
    const plan = planEscalation(input({ force_decomposition: true }));
    expect(plan.plan_source).toBe("decomposition");
    expect(plan.steps.map((s) => [s.organ_id, s.task.type])).toEqual([
      ["cognitive_organ_1", "plan"], ["utility_organ_1", "general_query"], ["cognitive_organ_1", "analyze"],
    ]);
  });
  it("falls back when the planner overruns its budget", async () => {
    const never = () => new Promise<never>(() => {});
    const plan = await planWithTimeout(never, input({}), 5);
    expect(plan).toMatchObject({ plan_source: "fallback", fallback_reason: "planner exceeded 5 ms" });
  });
});
