import { describe, expect, it } from "vitest";
import { executionOf, freshCoordinator, resultOf, runOneVia, runVia, task } from "./organism-helpers";

const step = (organ_id: string, type = "ping") => ({ organ_id, task: { type } });

describe("fast path and batches", () => {
  it("answers arithmetic and UTC time on the fast path with the agent's verdict", async () => {
    const coord = freshCoordinator();
    const [math, time] = await runVia(coord, [
      task("general_query", { description: "what is 12*(3+4)?" }),
      task("general_query", { params: { query: "what time is it in UTC?" } }),
    ]);
    // The result is what the task's code returned; where it ran is its execution.
    expect(math).toMatchObject({
      ok: true,
      result: { answer: 84 },
      execution: { path: "fast", organ_id: "utility_organ_1", agent_id: expect.stringMatching(/^utility_organ_1_agent_\d$/), p_fast: 1, latency_ms: expect.any(Number) },
    });
    expect(resultOf(math!)).not.toHaveProperty("path");
    expect(resultOf(time!)).toMatchObject({ answer: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
  });

  it("keeps outcomes in task order across organs and failure kinds", async () => {
    const coord = freshCoordinator();
    const tasks = [
      task("execute", { params: { action: "sum", input: [1, 2] } }),
      task("teleport"),
      task("execute", { params: { action: "format_disk" } }),
      task("flaky", { params: { fail_times: 1 } }),
      task("analyze", { description: "two words" }),
    ];
    const outcomes = await runVia(coord, tasks);
    expect(outcomes.map((o) => o.id)).toEqual(tasks.map((t) => t.id));
    expect(outcomes[0]).toMatchObject({ ok: true, result: { output: 3 }, execution: { organ_id: "actuator_organ_1" } });
    expect(outcomes[1]).toEqual({ id: tasks[1]!.id, ok: false, retriable: false, error: "no route for task type 'teleport'" });
    expect(outcomes[2]).toMatchObject({ ok: false, retriable: false, execution: { path: "fast" } });
    expect(outcomes[3]).toMatchObject({ ok: false, retriable: true, error: expect.stringContaining("flaky") });
    expect(outcomes[4]).toMatchObject({ ok: true, result: { words: 2 }, execution: { organ_id: "cognitive_organ_1" } });
    // The same flaky task succeeds on its second attempt.
    expect(await runOneVia(coord, task("flaky", { params: { fail_times: 1 }, attempt: 2 }))).toMatchObject({ ok: true });
  });
});

describe("escalation", () => {
  it("runs a valid params.plan in order", async () => {
    const coord = freshCoordinator();
    const out = await runOneVia(coord, task("general_query", { drift_score: 1, params: { plan: [step("utility_organ_1"), step("actuator_organ_1", "workflow_step")] } }));
    // The plan's result is its last step's; the plan itself is the execution.
    expect(out).toMatchObject({ ok: true, result: { step: null, status: "done" }, execution: { path: "escalation", kind: "escalated", plan_source: "params" } });
    const steps = executionOf(out)["solution_steps"] as { organ_id: string; success: boolean }[];
    expect(steps.map((s) => [s.organ_id, s.success])).toEqual([["utility_organ_1", true], ["actuator_organ_1", true]]);
  });

  it("falls back when the plan exceeds MAX_PLAN_STEPS or names an unknown organ", async () => {
    const coord = freshCoordinator();
    const tooLong = Array.from({ length: 17 }, () => step("utility_organ_1"));
    const [long, ghost] = await runVia(coord, [
      task("ping", { drift_score: 1, params: { plan: tooLong } }),
      task("ping", { drift_score: 1, params: { plan: [step("ghost_organ")] } }),
    ]);
    expect(long).toMatchObject({ ok: true, result: { pong: true } });
    expect(executionOf(long!)).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringContaining("MAX_PLAN_STEPS") });
    expect(executionOf(ghost!)).toMatchObject({ plan_source: "fallback", fallback_reason: expect.stringContaining("ghost_organ") });
    expect(executionOf(ghost!)["solution_steps"]).toEqual([{ organ_id: "utility_organ_1", success: true, task: expect.objectContaining({ type: "ping" }), result: expect.any(Object), error: null }]);
  });

  it("decomposes when forced and stops at a failing step", async () => {
    const coord = freshCoordinator();
    const ok = await runOneVia(coord, task("general_query", { drift_score: 1, description: "what is 2+2", params: { force_decomposition: true } }));
    expect(ok).toMatchObject({ ok: true });
    expect(executionOf(ok)).toMatchObject({ path: "escalation", plan_source: "decomposition" });
    expect((executionOf(ok)["solution_steps"] as unknown[]).length).toBe(3);
    const bad = await runOneVia(coord, task("ping", { drift_score: 1, params: { plan: [step("utility_organ_1", "execute"), step("utility_organ_1")] } }));
    expect(bad).toMatchObject({ ok: false, retriable: false, execution: { path: "escalation" } });
    expect(executionOf(bad)["solution_steps"]).toEqual([expect.objectContaining({ organ_id: "utility_organ_1", success: false })]);
  });
});

describe("control", () => {
  it("read-only control types run as tasks; the coordinator answers them itself", async () => {
    const coord = freshCoordinator();
    await runOneVia(coord, task("ping"));
    expect(await runOneVia(coord, task("get_organism_status"))).toMatchObject({ ok: true, result: { status: "healthy", organism_initialized: true }, execution: { path: "control" } });
    const summary = resultOf(await runOneVia(coord, task("get_organism_summary")));
    const organs = summary["organs"] as Record<string, { agents: unknown[]; tasks_processed: number; replicas: unknown[] }>;
    expect(Object.keys(organs)).toEqual(["utility_organ_1", "actuator_organ_1", "cognitive_organ_1"]);
    expect(organs["utility_organ_1"]!.agents).toHaveLength(3);
    expect(organs["utility_organ_1"]!.replicas).toEqual([{ replica: 0, agent_count: 3, tasks_processed: expect.any(Number) }]);
    expect(organs["utility_organ_1"]!.tasks_processed).toBeGreaterThan(0);
    expect(resultOf(await runOneVia(coord, task("get_metrics")))["metrics"]).toMatchObject({ fast_path: 1 });
    expect(await runOneVia(coord, task("get_routing_debug", { params: { task_type: "teleport" } }))).toMatchObject({ ok: true, result: { organ_id: null, would_escalate: false } });
    expect(await runOneVia(coord, task("get_routing_debug"))).toMatchObject({ ok: false, retriable: false });
  });

  it("executeOn runs on the named organ and refuses unknown ones", async () => {
    const coord = freshCoordinator();
    const step = { type: "general_query", params: { query: "1+1" }, description: null, domain: null };
    expect(await coord.executeOn("cognitive_organ_1", step)).toMatchObject({ ok: true, value: { success: true, organ_id: "cognitive_organ_1", replica: 0, result: { answer: 2 } } });
    expect(await coord.executeOn("ghost", step)).toEqual({ ok: false, code: "unknown_organ", error: "unknown organ 'ghost'" });
  });

  it("executeOnRandom rotates through the organs deterministically", async () => {
    const coord = freshCoordinator();
    const organs = [];
    for (let i = 0; i < 4; i++) {
      const r = await coord.executeOnRandom({ type: "ping", params: {}, description: null, domain: null });
      organs.push(r.ok ? r.value.organ_id : r.error);
    }
    expect(organs).toEqual(["utility_organ_1", "actuator_organ_1", "cognitive_organ_1", "utility_organ_1"]);
  });

  it("metrics, shutdown and initialize", async () => {
    const coord = freshCoordinator();
    await runVia(coord, [task("ping"), task("teleport")]);
    expect(await coord.metricsView()).toMatchObject({ tasks_total: 2, unrouted: 1, fast_path: 1, failures: 1, p_fast: 1 });
    expect(await coord.shutdown()).toMatchObject({ status: "shutdown", organism_initialized: false });
    expect(await coord.initialize()).toMatchObject({ ok: true, value: { status: "healthy" } });
  });
});
