import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { organismStub } from "../../src/clients/organism-client";
import { getTask, insertTask } from "../helpers/tasks";
import { deliver } from "../helpers/dispatch";
import { fetchWithEnv } from "../helpers/worker";
import { evict } from "./organism-helpers";

const call = async (path: string, init?: { method?: string; body?: unknown }) => {
  const res = await exports.default.fetch(new Request(`http://localhost${path}`, {
    method: init?.method ?? "GET",
    ...(init?.body === undefined ? {} : { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body), headers: { "content-type": "application/json" } }),
  }));
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe("GET /organism/*", () => {
  it("health and status report the coordinator", async () => {
    for (const path of ["/organism/health", "/api/v1/organism/health", "/organism/status", "/api/v1/organism/status"]) {
      const { status, body } = await call(path);
      expect(status).toBe(200);
      expect(body).toMatchObject({ status: "healthy", organism_initialized: true, organs: expect.any(Array) });
    }
  });
  it("health names the service and its route prefix, as the seed's Serve app does", async () => {
    const { body } = await call("/organism/health");
    expect(body).toMatchObject({ service: "organism-manager", route_prefix: "/organism", status: "healthy", organism_initialized: true });
  });
  it("organism-status and organism-summary", async () => {
    expect(await call("/organism/organism-status")).toMatchObject({ status: 200, body: { success: true, path: "control", status: "healthy" } });
    await call("/organism/handle-task", { method: "POST", body: { task_type: "ping" } });
    const { body } = await call("/organism/organism-summary");
    const organs = body["organs"] as Record<string, { agents: unknown[] }>;
    expect(Object.keys(organs)).toHaveLength(3);
    expect(organs["utility_organ_1"]!.agents).toHaveLength(3);
  });
  it("/coordinator/health says healthy", async () => {
    expect(await call("/coordinator/health")).toEqual({ status: 200, body: { status: "healthy", ping: true, organism_status: "healthy" } });
  });
});

describe("POST /organism/handle-task", () => {
  it("runs a task synchronously", async () => {
    const { status, body } = await call("/organism/handle-task", { method: "POST", body: { task_type: "general_query", description: "what is 12*(3+4)?" } });
    expect(status).toBe(200);
    expect(body).toMatchObject({ task_id: expect.any(String), success: true, path: "fast", organ_id: "utility_organ_1", result: { answer: 84 } });
  });
  it("answers an unroutable type with success:false and not retriable", async () => {
    expect(await call("/organism/handle-task", { method: "POST", body: { task_type: "teleport" } })).toMatchObject({ status: 200, body: { success: false, retriable: false, error: "no route for task type 'teleport'" } });
  });
  it("rejects bad input with 400 and the field named", async () => {
    const bad = await call("/organism/handle-task", { method: "POST", body: { task_type: "ping", drift_score: -1 } });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: "validation_failed", message: expect.stringContaining("drift_score") } } });
    expect((await call("/organism/handle-task", { method: "POST", body: "{oops" })).status).toBe(400);
  });
});

describe("POST control routes", () => {
  it("execute/{organ_id} runs there; unknown organs are 404", async () => {
    expect(await call("/organism/execute/actuator_organ_1", { method: "POST", body: { task_type: "execute", params: { action: "noop" } } })).toMatchObject({ status: 200, body: { success: true, organ_id: "actuator_organ_1" } });
    expect(await call("/organism/execute/ghost", { method: "POST", body: { task_type: "ping" } })).toMatchObject({ status: 404, body: { error: { code: "not_found" } } });
  });
  it("execute-random is its own route, not an organ id", async () => {
    const { status, body } = await call("/organism/execute-random", { method: "POST", body: { task_type: "ping" } });
    expect(status).toBe(200);
    expect(body).toMatchObject({ success: true, path: "control", organ_id: expect.stringMatching(/_organ_1$/) });
  });
  it("shutdown then initialize", async () => {
    expect(await call("/organism/shutdown", { method: "POST" })).toMatchObject({ status: 200, body: { status: "shutdown" } });
    expect(await call("/coordinator/health")).toMatchObject({ status: 200, body: { status: "degraded", organism_status: "shutdown" } });
    expect(await call("/organism/initialize", { method: "POST" })).toMatchObject({ status: 200, body: { status: "healthy" } });
  });
});

describe("POST /organism/initialize with a config", () => {
  const BAD: { config: unknown; reason: string }[] = [
    { config: "{broken", reason: "config is not valid JSON" },
    { config: '{"organs": []}', reason: "organs" },
    { config: { organs: [{ organ_id: "x", organ_type: "Wizard" }] }, reason: "organ_type" },
    { config: { organs: [{ organ_id: "x", organ_type: "Utility" }], routes: [{ task_type: "a", organ_id: "ghost" }] }, reason: "unknown organ 'ghost'" },
  ];

  it("refuses a bad one with 400 naming the problem, and the running organism keeps working, also after a restart", async () => {
    for (const { config, reason } of BAD) {
      const res = await call("/organism/initialize", { method: "POST", body: { config } });
      expect(res, JSON.stringify(config)).toMatchObject({ status: 400, body: { error: { code: "validation_failed", message: expect.stringContaining(reason) } } });
      expect(res.body).toMatchObject({ error: { message: expect.stringMatching(/^config: /), details: { fields: [{ path: "config" }] } } });
    }
    const healthy = { status: 200, body: { status: "healthy", organism_initialized: true } };
    expect(await call("/organism/status")).toMatchObject(healthy);
    expect(await call("/organism/handle-task", { method: "POST", body: { task_type: "ping" } })).toMatchObject({ status: 200, body: { success: true, path: "fast" } });
    const queued = await insertTask({ type: "ping" });
    await deliver();
    expect(await getTask(queued.id)).toMatchObject({ status: "completed" });
    // Nothing was stored: a restarted coordinator starts from the same config, healthy.
    await evict(organismStub(env));
    expect(await call("/organism/status")).toMatchObject(healthy);
  });

  it("refuses a bad one before the coordinator is asked", async () => {
    const untouchable = { idFromName: () => ({}), get: () => { throw new Error("the coordinator must not be reached"); } };
    const res = await fetchWithEnv(new Request("http://localhost/organism/initialize", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ config: "{broken" }) }), { ORGANISM_MANAGER: untouchable });
    expect(res.status).toBe(400);
  });

  it("applies a valid one, and \"\" goes back to the default", async () => {
    const utilityOnly = { organs: [{ organ_id: "utility_organ_1", organ_type: "Utility", task_types: ["ping"] }] };
    expect(await call("/organism/initialize", { method: "POST", body: { config: JSON.stringify(utilityOnly) } })).toMatchObject({ status: 200, body: { status: "healthy", organs: [{ organ_id: "utility_organ_1" }] } });
    // 'plan', listed by no organ of this config, is a defined type: it runs on the first (only) organ; an undefined type has no route.
    expect(await call("/organism/handle-task", { method: "POST", body: { task_type: "plan", params: { goal: "a then b" } } })).toMatchObject({
      body: { success: true, path: "fast", organ_id: "utility_organ_1", result: { goal: "a then b", steps: [{ step: 1, description: "a" }, { step: 2, description: "b" }] } },
    });
    expect(await call("/organism/handle-task", { method: "POST", body: { task_type: "teleport" } })).toMatchObject({ body: { success: false, error: "no route for task type 'teleport'" } });
    expect(await call("/organism/initialize", { method: "POST", body: { config: "" } })).toMatchObject({ status: 200, body: { status: "healthy" } });
    expect(((await call("/organism/status")).body["organs"] as unknown[])).toHaveLength(3);
  });
});
