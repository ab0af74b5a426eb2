import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { OrganismManager } from "../../durable-objects/organism-manager";
import type { TaskOutcome } from "../../src/organism/task-contracts";
import { evict, freshCoordinator, executionOf, objectStub, runOneVia, runVia, task } from "./organism-helpers";

describe("OrganismManager start-up", () => {
  it("answers ping and reports three healthy organs", async () => {
    const coord = freshCoordinator();
    expect(await coord.ping()).toBe("pong");
    const status = await coord.getStatus();
    expect(status).toMatchObject({ status: "healthy", organism_initialized: true });
    expect(status.organs.map((o) => o.organ_id)).toEqual(["utility_organ_1", "actuator_organ_1", "cognitive_organ_1"]);
  });

  it("initialize refuses a bad config with the reason, storing nothing and leaving the organism running", async () => {
    const name = `test-${crypto.randomUUID()}`;
    let coord = freshCoordinator(name);
    for (const [config, reason] of [["{not json", "config is not valid JSON"], [{ organs: [] }, "config is invalid: organs"], [42, "config is invalid"]] as const) {
      expect(await coord.initialize(config)).toEqual({ ok: false, code: "invalid_params", error: expect.stringContaining(reason) });
      expect(await coord.getStatus()).toMatchObject({ status: "healthy", organism_initialized: true });
      expect(await runOneVia(coord, task("ping"))).toMatchObject({ ok: true, result: { pong: true }, execution: { path: "fast" } });
    }
    const override = await runInDurableObject(objectStub(coord), async (_instance: OrganismManager, state) => state.storage.kv.get("config_override"));
    expect(override).toBeUndefined();
    await evict(coord);
    coord = freshCoordinator(name);
    expect(await coord.getStatus()).toMatchObject({ status: "healthy", organs: [{ organ_id: "utility_organ_1" }, { organ_id: "actuator_organ_1" }, { organ_id: "cognitive_organ_1" }] });
  });

  it("initialize applies a valid config, which survives a restart", async () => {
    const name = `test-${crypto.randomUUID()}`;
    let coord = freshCoordinator(name);
    const utilityOnly = { organs: [{ organ_id: "utility_organ_1", organ_type: "Utility", task_types: ["ping"] }] };
    expect(await coord.initialize(utilityOnly)).toMatchObject({ ok: true, value: { status: "healthy" } });
    expect(await runOneVia(coord, task("ping"))).toMatchObject({ ok: true, result: { pong: true }, execution: { path: "fast", organ_id: "utility_organ_1" } });
    await evict(coord);
    coord = freshCoordinator(name);
    expect((await coord.getStatus()).organs.map((o) => o.organ_id)).toEqual(["utility_organ_1"]);
  });

  it("a bad ORGANISM_CONFIG in the environment leaves the object unhealthy, not reset", async () => {
    const stub = freshCoordinator();
    const status = await runInDurableObject(objectStub(stub), async (_instance: OrganismManager, state) => {
      const manager = new OrganismManager(state, { ...env, ORGANISM_CONFIG: '{"organs": []}' });
      return { ...(await manager.getStatus()), decided: await manager.decide("p", [{ id: "t", type: "ping", domain: null, drift_score: 0 }]) };
    });
    expect(status).toMatchObject({ status: "unhealthy", error: expect.stringContaining("ORGANISM_CONFIG is invalid") });
    // Work is refused at once as not run (it comes back with its attempt), instead of hanging.
    expect(status.decided.decisions).toEqual([{ kind: "refused", retriable: true, not_run: true, error: expect.stringContaining("unhealthy") }]);
  });

  it("reloads config, OCPS state and metrics after eviction", async () => {
    const name = `test-${crypto.randomUUID()}`;
    let coord = freshCoordinator(name);
    await runVia(coord, [task("ping", { drift_score: 0.3 }), task("status")]);
    const before = await coord.metricsView();
    await evict(coord);
    coord = freshCoordinator(name);
    expect((await coord.getStatus()).status).toBe("healthy");
    const after = await coord.metricsView();
    expect(after).toMatchObject({ tasks_total: 2, fast_path: 2, ocps: { S: expect.closeTo(0.1, 5) } });
    expect(after).toEqual(before);
  });

  it("stays shut down across eviction until initialize; queued work waits meanwhile without spending attempts", async () => {
    const name = `test-${crypto.randomUUID()}`;
    let coord = freshCoordinator(name);
    await coord.getStatus();
    expect(await coord.shutdown()).toMatchObject({ status: "shutdown" });
    await evict(coord);
    coord = freshCoordinator(name);
    expect(await coord.getStatus()).toMatchObject({ status: "shutdown" });
    expect(await runOneVia(coord, task("ping"))).toMatchObject({ ok: false, retriable: true, notRun: true });
    await coord.initialize();
    expect(await coord.getStatus()).toMatchObject({ status: "healthy" });
  });
});

describe("decide", () => {
  it("answers a mixed batch in task order with no params: fast (with replica), escalation, shed, no route, control", async () => {
    const stub = freshCoordinator();
    const decided = await runInDurableObject(objectStub(stub), async (_instance: OrganismManager, state) => {
      const manager = new OrganismManager(state, { ...env, ORGANISM_MAX_INFLIGHT_TASKS: "3" });
      const tasks = [
        { id: "a", type: "ping", domain: null, drift_score: 0 },
        { id: "b", type: "general_query", domain: null, drift_score: 0.7 },
        { id: "c", type: "teleport", domain: null, drift_score: 0 },
        { id: "d", type: "get_metrics", domain: null, drift_score: 0 },
        { id: "e", type: "ping", domain: null, drift_score: 0 },
      ];
      return manager.decide("pass-1", tasks);
    });
    expect(decided.decisions).toEqual([
      { kind: "fast", organ_id: "utility_organ_1", replica: 0, p_fast: 1 },
      { kind: "escalate", organ_id: "utility_organ_1", p_fast: 0.5 },
      { kind: "refused", retriable: false, not_run: false, error: "no route for task type 'teleport'" },
      { kind: "control", control: "get_metrics" },
      // The fourth work item passes ORGANISM_MAX_INFLIGHT_TASKS (3): shed, not run.
      { kind: "refused", retriable: true, not_run: true, error: expect.stringMatching(/^overloaded/) },
    ]);
    expect(decided.organism.organs).toEqual([
      { organ_id: "utility_organ_1", replicas: 1 },
      { organ_id: "actuator_organ_1", replicas: 1 },
      { organ_id: "cognitive_organ_1", replicas: 1 },
    ]);
  });

  it("keeps OCPS order across concurrent passes: S steps once per task, serially", async () => {
    const coord = freshCoordinator();
    const pass = (n: number) => Array.from({ length: n }, () => ({ id: crypto.randomUUID(), type: "ping", domain: null, drift_score: 0.35 }));
    const results = await Promise.all([coord.decide("p1", pass(5)), coord.decide("p2", pass(5))]);
    // drift 0.35 adds 0.25 per task: every third task trips the 0.5 threshold, whichever pass it is in.
    const kinds = results.flatMap((r) => r.decisions.map((d) => d.kind));
    expect(kinds.filter((k) => k === "escalate")).toHaveLength(3);
    const metrics = await coord.metricsView();
    expect(metrics).toMatchObject({ ocps: { total: 10, escalations: 3 } });
  });

  it("frees shed capacity when a pass reports, and after a pass that never reports expires", async () => {
    const stub = freshCoordinator();
    const outcome = await runInDurableObject(objectStub(stub), async (_instance: OrganismManager, state) => {
      const manager = new OrganismManager(state, { ...env, ORGANISM_MAX_INFLIGHT_TASKS: "2" });
      const one = (id: string) => [{ id, type: "ping", domain: null, drift_score: 0 }];
      await manager.decide("p1", [...one("a"), ...one("b")]);
      const full = await manager.decide("p2", one("c"));
      manager.report({ pass: "p1", successes: 2, failures: 0, slo_misses: 0, fallback_plans: 0, by_organ: {} });
      const freed = await manager.decide("p3", one("d"));
      return { full: full.decisions[0], freed: freed.decisions[0], load: manager.getResilience().load };
    });
    expect(outcome.full).toMatchObject({ kind: "refused", not_run: true });
    expect(outcome.freed).toMatchObject({ kind: "fast" });
    expect(outcome.load).toMatchObject({ inflight_tasks: 1, shed_total: 1, max_inflight_tasks: 2 });
  });
});

describe("OCPS valve through the run path", () => {
  it("three tasks at drift 0.3 escalate on the third and reset S", async () => {
    const coord = freshCoordinator();
    const outcomes: TaskOutcome[] = [];
    for (let i = 0; i < 3; i++) outcomes.push(await runOneVia(coord, task("general_query", { drift_score: 0.3, description: "what time is it?" })));
    expect(outcomes.map((o) => executionOf(o)["path"])).toEqual(["fast", "fast", "escalation"]);
    expect(outcomes[2]).toMatchObject({ ok: true, result: { query_type: "time" } });
    expect(executionOf(outcomes[2]!)).toMatchObject({ kind: "escalated", plan_source: "fallback", p_fast: expect.closeTo(2 / 3, 5) });
    expect(await coord.metricsView()).toMatchObject({ escalations: 1, fast_path: 2, tasks_total: 3, successes: 3, ocps: { S: 0 } });
  });

  it("routingDebug previews without moving S", async () => {
    const coord = freshCoordinator();
    await runOneVia(coord, task("ping", { drift_score: 0.3 }));
    const debug = await coord.routingDebug({ task_type: "general_query", drift_score: 0.5 });
    expect(debug).toMatchObject({ ok: true, value: { organ_id: "utility_organ_1", would_escalate: true, S_current: expect.closeTo(0.2, 5), S_preview: expect.closeTo(0.6, 5) } });
    const again = await coord.routingDebug({ task_type: "general_query", drift_score: 0.4 });
    expect(again.ok && again.value["S_current"]).toBeCloseTo(0.2);
  });
});
