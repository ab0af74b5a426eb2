import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { requireConfig, type Config } from "../../src/config";
import { runtime } from "../../src/dispatch/runtime";
import { cognitiveStats, type AiBinding } from "../../src/organism/cognitive-planner";
import { resetServices, serviceStats } from "../../src/services/registry";
import { drain } from "../helpers/dispatch";
import { getTask, insertTask, settleOtherTasks } from "../helpers/tasks";
import { api } from "../helpers/worker";

/**
 * The cognitive planner on a Workers AI binding (DESIGN §16): with COGNITIVE_MODEL set, no
 * COGNITIVE_URL and an `AI` binding in env, escalation plans come from `env.AI.run(model,
 * {messages})`. The binding reaches the planner through `runtime(env, config)` (the production
 * wiring), so a test hands it `{...env, AI: fake}`: the same prompt, validation, timeout, breaker
 * and fallback as the URL backend.
 */
type Execution = { plan_source: string; fallback_reason?: string; solution_steps: { organ_id: string; success: boolean }[] };
type Messages = { role: string; content: string }[];

const escalated = () => insertTask({ type: "general_query", drift_score: 1, description: "what is 2 + 3", params: {} });
const validPlan = (organ = "utility_organ_1") => ({ steps: [{ organ_id: organ, task: { type: "ping", params: {} } }, { organ_id: organ, task: { type: "test_task", params: { from: "workers-ai" } } }] });

/** A fake `env.AI`: records each call, answers with `answer(messages)`. */
function fakeAi(answer: (messages: Messages) => unknown | Promise<unknown>) {
  const calls: { model: string; inputs: Record<string, unknown> }[] = [];
  const ai: AiBinding = {
    async run(model, inputs) {
      calls.push({ model, inputs });
      return answer(inputs["messages"] as Messages);
    },
  };
  return { ai, calls };
}

/** One drain whose runtime sees `AI` bound, with COGNITIVE_MODEL set (and, unless given, no COGNITIVE_URL). */
async function drainWithAi(ai: AiBinding, over: Partial<Config> = {}) {
  const config: Partial<Config> = { COGNITIVE_URL: undefined, COGNITIVE_MODEL: "@cf/meta/llama-3.1-8b-instruct", ...over };
  const full = { ...requireConfig(env), ...config } as Config;
  await drain({ config, admit: runtime({ ...env, AI: ai } as unknown as Env, full).admit });
}

beforeEach(async () => {
  await settleOtherTasks();
  resetServices();
});

describe("escalation planned by a Workers AI binding", () => {
  it("a valid plan ({response: string}) runs with plan_source llm; the binding gets the model and the same prompt", async () => {
    const { ai, calls } = fakeAi(() => ({ response: "```json\n" + JSON.stringify(validPlan()) + "\n```" }));
    const t = await escalated();
    await drainWithAi(ai);
    const row = await getTask(t.id);
    expect(row.status).toBe("completed");
    const execution = row.execution as Execution;
    expect(execution).toMatchObject({ path: "escalation", plan_source: "llm" });
    expect(execution.fallback_reason).toBeUndefined();
    expect(execution.solution_steps.map((s) => s.success)).toEqual([true, true]);
    expect(row.result).toMatchObject({ echo: { from: "workers-ai" }, task_type: "test_task" });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.model).toBe("@cf/meta/llama-3.1-8b-instruct");
    const messages = calls[0]?.inputs["messages"] as Messages;
    expect(messages[0]).toMatchObject({ role: "system" });
    expect(messages[0]?.content).toMatch(/"type":"general_query"/);
    expect(JSON.parse(messages[1]?.content ?? "{}")).toMatchObject({ type: "general_query", description: "what is 2 + 3" });
    expect(calls[0]?.inputs).toMatchObject({ temperature: 0, max_tokens: 1024 });
    expect(serviceStats()["cognitive"]).toMatchObject({ requests: 1, ok: 1, failed: 0 });
  });

  it("an answer whose response is an object (JSON mode) is taken as the plan", async () => {
    const { ai } = fakeAi(() => ({ response: validPlan() }));
    const t = await escalated();
    await drainWithAi(ai);
    expect((await getTask(t.id)).execution).toMatchObject({ plan_source: "llm" });
  });

  it("an answer that is not JSON falls back to the deterministic plan, saying why", async () => {
    const { ai } = fakeAi(() => ({ response: "Sure! Here is a plan: step one, ping." }));
    const t = await escalated();
    await drainWithAi(ai);
    const row = await getTask(t.id);
    expect(row.status).toBe("completed");
    expect(row.execution).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringMatching(/^cognitive planner \(invalid_json\): the answer is not JSON/) });
    expect(row.result).toMatchObject({ answer: 5 });
  });

  it("an answer without response text falls back (invalid_json)", async () => {
    const { ai } = fakeAi(() => ({ usage: { prompt_tokens: 3 } }));
    const t = await escalated();
    await drainWithAi(ai);
    expect((await getTask(t.id)).execution).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringMatching(/^cognitive planner \(invalid_json\): the Workers AI answer has no response text/) });
  });

  it("a plan naming an unknown task type falls back", async () => {
    const { ai } = fakeAi(() => ({ response: JSON.stringify({ steps: [{ organ_id: "utility_organ_1", task: { type: "launch_rockets", params: {} } }] }) }));
    const t = await escalated();
    await drainWithAi(ai);
    const row = await getTask(t.id);
    expect(row.status).toBe("completed");
    expect(row.execution).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringMatching(/invalid_plan.*unknown task type 'launch_rockets'/) });
  });

  it("a slow answer is cut at COGNITIVE_TIMEOUT_S and falls back (timeout)", async () => {
    const { ai } = fakeAi(() => new Promise((resolve) => setTimeout(() => resolve({ response: JSON.stringify(validPlan()) }), 3000)));
    const before = cognitiveStats().fallbacks.timeout;
    const t = await escalated();
    const started = Date.now();
    await drainWithAi(ai, { COGNITIVE_TIMEOUT_S: 1 });
    expect(Date.now() - started).toBeLessThan(2900);
    const row = await getTask(t.id);
    expect(row.status).toBe("completed");
    expect(row.execution).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringMatching(/^cognitive planner \(timeout\)/) });
    expect(cognitiveStats().fallbacks.timeout).toBe(before + 1);
    expect(serviceStats()["cognitive"]).toMatchObject({ timeouts: 1, failed: 1 });
  });

  it("a binding that throws falls back (error), and the failures open the cognitive breaker: then no call is made", async () => {
    const { ai, calls } = fakeAi(() => {
      throw new Error("AiError: 3040: capacity temporarily exceeded");
    });
    const a = await escalated();
    await drainWithAi(ai, { CB_FAILURE_THRESHOLD: 1 });
    expect((await getTask(a.id)).execution).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringMatching(/^cognitive planner \(error\): .*capacity temporarily exceeded/) });
    const made = calls.length;
    expect(made).toBeGreaterThanOrEqual(1);
    const b = await escalated();
    await drainWithAi(ai, { CB_FAILURE_THRESHOLD: 1 });
    const row = await getTask(b.id);
    expect(row.status).toBe("completed");
    expect(row.execution).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringMatching(/^cognitive planner \(breaker_open\): service 'cognitive': circuit open/) });
    expect(calls.length).toBe(made);
    expect(serviceStats()["cognitive"]).toMatchObject({ deferred_breaker: 1, breaker: { state: "open" } });
    const metrics = await (await api("/metrics")).text();
    expect(metrics).toMatch(/seedcore_cognitive_fallbacks_total\{reason="breaker_open"\} [1-9]/);
  });

  it("at most COGNITIVE_MAX_INFLIGHT calls at once: the others fall back (busy) without calling", async () => {
    const { ai, calls } = fakeAi(() => new Promise((resolve) => setTimeout(() => resolve({ response: JSON.stringify(validPlan()) }), 200)));
    const tasks = [await escalated(), await escalated()];
    await drainWithAi(ai, { COGNITIVE_MAX_INFLIGHT: 1 });
    const executions = await Promise.all(tasks.map(async (t) => (await getTask(t.id)).execution as Execution));
    expect(executions.map((e) => e.plan_source).sort()).toEqual(["fallback", "llm"]);
    expect(executions.find((e) => e.plan_source === "fallback")?.fallback_reason).toMatch(/^cognitive planner \(busy\): COGNITIVE_MAX_INFLIGHT \(1\)/);
    expect(calls).toHaveLength(1);
  });

  it("COGNITIVE_URL wins over the binding; without COGNITIVE_MODEL the binding is not used", async () => {
    const { ai, calls } = fakeAi(() => ({ response: JSON.stringify(validPlan()) }));
    const t = await escalated();
    // COGNITIVE_URL set: the URL backend is asked (test/loopback-server.mjs answers 500); the binding never is.
    await drainWithAi(ai, { COGNITIVE_URL: `${inject("loopbackOrigin")}/llm/error/v1` });
    expect((await getTask(t.id)).execution).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringMatching(/^cognitive planner \(error\): service 'cognitive' answered 500/) });
    const u = await escalated();
    await drainWithAi(ai, { COGNITIVE_MODEL: undefined });
    const row = await getTask(u.id);
    expect(row.execution).toMatchObject({ plan_source: "fallback" });
    expect((row.execution as Execution).fallback_reason).toBeUndefined();
    expect(calls).toHaveLength(0);
  });
});
