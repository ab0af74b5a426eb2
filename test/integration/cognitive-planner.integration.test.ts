import { beforeEach, describe, expect, inject, it } from "vitest";
import { resetServices } from "../../src/services/registry";
import { drain } from "../helpers/dispatch";
import { getTask, insertTask, settleOtherTasks } from "../helpers/tasks";
import { api } from "../helpers/worker";

/**
 * The cognitive planner (DESIGN §16) end to end: an escalated task (drift 1 trips the OCPS valve)
 * is planned by an OpenAI-compatible chat-completions endpoint — test/loopback-server.mjs, whose
 * path picks its answer — and the plan runs on the organs. Anything invalid falls back to the
 * deterministic planner, and the task still runs.
 */
const origin = inject("loopbackOrigin");
const cognitive = (mode: string, over: Record<string, unknown> = {}) => ({
  config: { COGNITIVE_URL: `${origin}/llm/${mode}/v1`, COGNITIVE_MODEL: "loopback-model", COGNITIVE_API_KEY: "test-llm-key", ...over },
});
const escalated = () => insertTask({ type: "general_query", drift_score: 1, description: "what is 2 + 3", params: {} });
type Execution = { plan_source: string; fallback_reason?: string; solution_steps: { organ_id: string; success: boolean }[] };

beforeEach(async () => {
  await settleOtherTasks();
  resetServices();
});

describe("escalation planned by an LLM endpoint", () => {
  it("a valid plan runs, with plan_source llm; the request names the model, the key and the known types", async () => {
    const t = await escalated();
    await drain(cognitive("valid"));
    const row = await getTask(t.id);
    expect(row.status).toBe("completed");
    const execution = row.execution as Execution;
    expect(execution).toMatchObject({ path: "escalation", plan_source: "llm" });
    expect(execution.fallback_reason).toBeUndefined();
    expect(execution.solution_steps.map((s) => s.success)).toEqual([true, true]);
    expect(row.result).toMatchObject({ echo: { from: "llm" }, task_type: "test_task" });
    const last = await (await fetch(`${origin}/llm/last`)).json<{ authorization: string; model: string; messages: { role: string; content: string }[] }>();
    expect(last).toMatchObject({ authorization: "Bearer test-llm-key", model: "loopback-model" });
    expect(last.messages[0]?.content).toMatch(/"type":"general_query"/);
    expect(last.messages[0]?.content).toMatch(/utility_organ_1/);
    expect(JSON.parse(last.messages[1]?.content ?? "{}")).toMatchObject({ type: "general_query", description: "what is 2 + 3" });
  });

  it("an answer that is not JSON falls back to the deterministic plan, saying why", async () => {
    const t = await escalated();
    await drain(cognitive("invalid_json"));
    const row = await getTask(t.id);
    expect(row.status).toBe("completed");
    expect(row.execution).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringMatching(/^cognitive planner \(invalid_json\): the answer is not JSON/) });
    expect(row.result).toMatchObject({ answer: 5 });
  });

  it("a plan naming an unknown task type falls back", async () => {
    const t = await escalated();
    await drain(cognitive("unknown_type"));
    const row = await getTask(t.id);
    expect(row.status).toBe("completed");
    expect(row.execution).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringMatching(/invalid_plan.*unknown task type 'launch_rockets'/) });
  });

  it("a slow answer is cut at COGNITIVE_TIMEOUT_S and falls back; /metrics counts every case", async () => {
    const t = await escalated();
    const started = Date.now();
    await drain(cognitive("slow", { COGNITIVE_TIMEOUT_S: 1 }));
    expect(Date.now() - started).toBeLessThan(2900);
    const row = await getTask(t.id);
    expect(row.status).toBe("completed");
    expect(row.execution).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringMatching(/^cognitive planner \(timeout\)/) });
    const metrics = await (await api("/metrics")).text();
    expect(metrics).toMatch(/seedcore_cognitive_plans_total 1\n/);
    for (const reason of ["invalid_json", "invalid_plan", "timeout"]) expect(metrics).toMatch(new RegExp(`seedcore_cognitive_fallbacks_total\\{reason="${reason}"\\} 1\\n`));
  });

  it("failing answers open the cognitive breaker; then escalations fall back without calling", async () => {
    const [a, b] = [await escalated(), await escalated()];
    await drain(cognitive("error", { CB_FAILURE_THRESHOLD: 1 }));
    const reasons = await Promise.all([a, b].map(async (t) => ((await getTask(t.id)).execution as Execution).fallback_reason ?? ""));
    // Both were planned in one pass: the first failure opens the circuit (the other may have been sent already).
    expect(reasons.some((r) => r.startsWith("cognitive planner (error): service 'cognitive' answered 500"))).toBe(true);
    const c = await escalated();
    await drain(cognitive("error", { CB_FAILURE_THRESHOLD: 1 }));
    const row = await getTask(c.id);
    expect(row.status).toBe("completed");
    expect(row.execution).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringMatching(/^cognitive planner \(breaker_open\): service 'cognitive': circuit open/) });
  });

  it("without COGNITIVE_URL the deterministic planner plans, as before", async () => {
    const t = await escalated();
    await drain();
    expect((await getTask(t.id)).execution).toMatchObject({ plan_source: "fallback" });
    expect(((await getTask(t.id)).execution as Execution).fallback_reason).toBeUndefined();
  });
});
