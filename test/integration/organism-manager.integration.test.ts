import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { OrganismManager } from "../../durable-objects/organism-manager";
import type { TaskOutcome } from "../../src/contracts";
import { evict, freshCoordinator, objectStub, resultOf, task } from "./organism-helpers";

describe("OrganismManager start-up", () => {
  it("answers ping and reports three healthy organs", async () => {
    const coord = freshCoordinator();
    expect(await coord.ping()).toBe("pong");
    const status = await coord.getStatus();
    expect(status).toMatchObject({ status: "healthy", organism_initialized: true });
    expect(status.organs.map((o) => o.organ_id)).toEqual(["utility_organ_1", "actuator_organ_1", "cognitive_organ_1"]);
  });

  it("initialize_organism refuses a bad config with the reason, storing nothing and leaving the organism running", async () => {
    const name = `test-${crypto.randomUUID()}`;
    let coord = freshCoordinator(name);
    for (const [config, reason] of [["{not json", "config is not valid JSON"], [{ organs: [] }, "config is invalid: organs"], [42, "config is invalid"]] as const) {
      const bad = await coord.handleIncomingTask(task("initialize_organism", { params: { config } }));
      expect(bad).toMatchObject({ ok: false, retriable: false, error: expect.stringContaining(reason), result: { code: "invalid_params" } });
      expect(await coord.getStatus()).toMatchObject({ status: "healthy", organism_initialized: true });
      expect(await coord.handleIncomingTask(task("ping"))).toMatchObject({ ok: true, result: { path: "fast" } });
    }
    const override = await runInDurableObject(objectStub(coord), async (_instance: OrganismManager, state) => state.storage.kv.get("config_override"));
    expect(override).toBeUndefined();
    await evict(coord);
    coord = freshCoordinator(name);
    expect(await coord.getStatus()).toMatchObject({ status: "healthy", organs: [{ organ_id: "utility_organ_1" }, { organ_id: "actuator_organ_1" }, { organ_id: "cognitive_organ_1" }] });
  });

  it("initialize_organism applies a valid config, which survives a restart", async () => {
    const name = `test-${crypto.randomUUID()}`;
    let coord = freshCoordinator(name);
    const utilityOnly = { organs: [{ organ_id: "utility_organ_1", organ_type: "Utility", task_types: ["ping"] }] };
    expect(await coord.handleIncomingTask(task("initialize_organism", { params: { config: utilityOnly } }))).toMatchObject({ ok: true, result: { status: "healthy" } });
    expect(await coord.handleIncomingTask(task("ping"))).toMatchObject({ ok: true, result: { path: "fast", organ_id: "utility_organ_1" } });
    await evict(coord);
    coord = freshCoordinator(name);
    expect((await coord.getStatus()).organs.map((o) => o.organ_id)).toEqual(["utility_organ_1"]);
  });

  it("a bad ORGANISM_CONFIG in the environment leaves the object unhealthy, not reset", async () => {
    const stub = freshCoordinator();
    const status = await runInDurableObject(objectStub(stub), async (_instance: OrganismManager, state) => {
      const manager = new OrganismManager(state, { ...env, ORGANISM_CONFIG: '{"organs": []}' });
      return { ...(await manager.getStatus()), ping: await manager.handleIncomingTask(task("ping")) };
    });
    expect(status).toMatchObject({ status: "unhealthy", error: expect.stringContaining("ORGANISM_CONFIG is invalid") });
    // Work is refused with a structured, retriable error instead of hanging.
    expect(status.ping).toMatchObject({ ok: false, retriable: true, error: expect.stringContaining("unhealthy") });
  });

  it("reloads config, OCPS state and metrics after eviction", async () => {
    const name = `test-${crypto.randomUUID()}`;
    let coord = freshCoordinator(name);
    await coord.handleIncomingTasks([task("ping", { drift_score: 0.3 }), task("status")]);
    const before = resultOf(await coord.handleIncomingTask(task("get_metrics")));
    await evict(coord);
    coord = freshCoordinator(name);
    const status = await coord.getStatus();
    expect(status.status).toBe("healthy");
    const after = resultOf(await coord.handleIncomingTask(task("get_metrics")));
    expect(after["metrics"]).toMatchObject({ tasks_total: 2, fast_path: 2, ocps: { S: expect.closeTo(0.1, 5) } });
    // Identical except the get_metrics call itself, counted as one more control message.
    const previous = before["metrics"] as { control: number };
    expect(after["metrics"]).toEqual({ ...previous, control: previous.control + 1 });
  });

  it("stays shut down across eviction until initialize_organism", async () => {
    const name = `test-${crypto.randomUUID()}`;
    let coord = freshCoordinator(name);
    await coord.getStatus();
    expect(await coord.handleIncomingTask(task("shutdown_organism"))).toMatchObject({ ok: true, result: { status: "shutdown" } });
    await evict(coord);
    coord = freshCoordinator(name);
    expect(await coord.getStatus()).toMatchObject({ status: "shutdown" });
    expect(await coord.handleIncomingTask(task("ping"))).toMatchObject({ ok: false, retriable: true });
    await coord.handleIncomingTask(task("initialize_organism"));
    expect(await coord.getStatus()).toMatchObject({ status: "healthy" });
  });
});

describe("OCPS valve in the coordinator", () => {
  it("three tasks at drift 0.3 escalate on the third and reset S", async () => {
    const coord = freshCoordinator();
    const outcomes: TaskOutcome[] = [];
    for (let i = 0; i < 3; i++) outcomes.push(await coord.handleIncomingTask(task("general_query", { drift_score: 0.3, description: "what time is it?" })));
    expect(outcomes.map((o) => resultOf(o)["path"])).toEqual(["fast", "fast", "escalation"]);
    expect(resultOf(outcomes[2]!)).toMatchObject({ success: true, kind: "escalated", plan_source: "fallback", p_fast: expect.closeTo(2 / 3, 5) });
    const metrics = resultOf(await coord.handleIncomingTask(task("get_metrics")))["metrics"];
    expect(metrics).toMatchObject({ escalations: 1, fast_path: 2, ocps: { S: 0 } });
  });

  it("get_routing_debug previews without moving S", async () => {
    const coord = freshCoordinator();
    await coord.handleIncomingTask(task("ping", { drift_score: 0.3 }));
    const debug = await coord.handleIncomingTask(task("get_routing_debug", { params: { task_type: "general_query", drift_score: 0.5 } }));
    expect(resultOf(debug)).toMatchObject({ path: "control", organ_id: "utility_organ_1", would_escalate: true, S_current: expect.closeTo(0.2, 5), S_preview: expect.closeTo(0.6, 5) });
    const again = await coord.handleIncomingTask(task("get_routing_debug", { params: { task_type: "general_query", drift_score: 0.4 } }));
    expect(resultOf(again)["S_current"]).toBeCloseTo(0.2);
  });
});
