import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { gatherOrganServiceStats, type OrganStatsRpc } from "../../src/clients/organ-service-stats";
import { isolateId, type IsolateServiceStats, type ServiceStats } from "../../src/services/registry";
import type { ServiceSpecs } from "../../src/services/service-spec";
import { drain } from "../helpers/dispatch";
import { loopbackService, namedServiceCalls } from "../helpers/named-services";
import { getTask } from "../helpers/tasks";
import { api, fetchWithEnv } from "../helpers/worker";

/**
 * Named service clients count in the isolate of the organ that ran the task (DESIGN §16):
 * /metrics and GET /organism/status ask every organ replica (`Organ.getServiceStats`, ≤ 4 at a
 * time, each within a timeout) and add each isolate's numbers once. Locally the Worker and every
 * organ share one isolate, so the real path shows the same numbers once; a fake ORGAN namespace
 * (other isolate ids, a replica that never answers) shows the summing and the timeout.
 */
const spec = loopbackService;
const specs: ServiceSpecs = {
  stats_ok: spec({ timeout_s: 2, retries: 0 }),
  stats_fragile: spec({ timeout_s: 2, retries: 0, breaker: { failures: 1, recovery_s: 60 } }),
};

const call = namedServiceCalls("svc_stats_call", specs);
const REPLICAS = ["utility_organ_1", "actuator_organ_1", "cognitive_organ_1"];
const organStub = (replica: string) => env.ORGAN.get(env.ORGAN.idFromName(replica)) as unknown as OrganStatsRpc;
type Status = {
  resilience: {
    services: Record<string, ServiceStats & { isolates: number; breakers: Record<string, number> }>;
    service_sources: { isolates: number; organs_asked: number; organs_answered: number; organs_missing: number; missing: { replica: string; error: string }[] };
  };
};
const sample = (metrics: string, line: string) => {
  const m = new RegExp(`^${line.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, "m").exec(metrics);
  return m ? Number(m[1]) : undefined;
};

describe("service counts from the organs", () => {
  it("a task that calls a service runs in an organ; the organ reports its isolate's counts; /metrics and /organism/status show them", async () => {
    const t = await call("stats_ok", `/flaky?key=${crypto.randomUUID()}`);
    await drain();
    expect(await getTask(t.id)).toMatchObject({ status: "completed" });

    // The organ replica itself answers with its isolate's numbers.
    const organ = await organStub("utility_organ_1").getServiceStats();
    expect(organ.services["stats_ok"]).toMatchObject({ requests: 1, ok: 1, failed: 0, breaker: { state: "closed" } });
    const gathered = await gatherOrganServiceStats(organStub, REPLICAS);
    expect(gathered.missing).toEqual([]);
    expect(gathered.answered.map((a) => a.replica).sort()).toEqual([...REPLICAS].sort());

    const metrics = await (await api("/metrics")).text();
    expect(sample(metrics, 'seedcore_service_requests_total{service="stats_ok"}')).toBe(1);
    expect(sample(metrics, 'seedcore_service_ok_total{service="stats_ok"}')).toBe(1);
    expect(sample(metrics, 'seedcore_service_failures_total{service="stats_ok"}')).toBe(0);
    expect(sample(metrics, 'seedcore_service_breakers{service="stats_ok",state="closed"}')).toBe(1);
    expect(sample(metrics, 'seedcore_service_stats_organs{outcome="answered"}')).toBe(3);
    expect(sample(metrics, 'seedcore_service_stats_organs{outcome="missing"}')).toBe(0);
    // Locally the Worker and the organs share one isolate: its numbers are counted once.
    expect(sample(metrics, "seedcore_service_stats_isolates")).toBe(1);

    const status = await (await api("/organism/status")).json<Status>();
    expect(status.resilience.services["stats_ok"]).toMatchObject({ requests: 1, ok: 1, isolates: 1, breakers: { closed: 1, open: 0 } });
    expect(status.resilience.service_sources).toMatchObject({ isolates: 1, organs_asked: 3, organs_answered: 3, organs_missing: 0 });
  });

  it("an open breaker in an organ shows in /metrics and /organism/status", async () => {
    const k = crypto.randomUUID();
    const failing = await call("stats_fragile", `/flaky?key=${k}&fail=-1&code=500`);
    await drain();
    expect(await getTask(failing.id)).toMatchObject({ status: "retry" });
    const deferred = await call("stats_fragile", `/flaky?key=${k}`);
    await drain();
    expect((await getTask(deferred.id)).error).toMatch(/service 'stats_fragile': circuit open/);

    const metrics = await (await api("/metrics")).text();
    expect(sample(metrics, 'seedcore_service_breaker_state{service="stats_fragile"}')).toBe(2);
    expect(sample(metrics, 'seedcore_service_breakers{service="stats_fragile",state="open"}')).toBe(1);
    expect(sample(metrics, 'seedcore_service_failures_total{service="stats_fragile"}')).toBe(1);
    expect(sample(metrics, 'seedcore_service_deferred_total{service="stats_fragile",reason="breaker"}')).toBe(1);
    const status = await (await api("/organism/status")).json<Status>();
    expect(status.resilience.services["stats_fragile"]).toMatchObject({ failed: 1, deferred_breaker: 1, breaker: { state: "open" }, breakers: { open: 1 } });
  });

  it("organs in other isolates are summed, each isolate once; a replica that does not answer is only missing", async () => {
    const t = await call("stats_ok", `/flaky?key=${crypto.randomUUID()}`);
    await drain();
    expect(await getTask(t.id)).toMatchObject({ status: "completed" });
    const theirs = (isolate: string, requests: number, state: "closed" | "open"): IsolateServiceStats => ({
      isolate,
      services: {
        stats_ok: {
          requests, ok: requests, failed: 0, retries: 0, timeouts: 0, deferred_breaker: 0, deferred_rate: 0,
          breaker: { state, failure_count: 0, total_calls: requests, successful_calls: requests, failed_calls: 0, circuit_opens: state === "open" ? 1 : 0, rejected_calls: 0, retry_after_ms: 0 },
        },
      },
    });
    // utility: its own isolate (5 calls, open); actuator shares that isolate (counted once); cognitive never answers.
    const answers: Record<string, () => Promise<IsolateServiceStats>> = {
      utility_organ_1: async () => theirs("organ-isolate-a", 5, "open"),
      actuator_organ_1: async () => theirs("organ-isolate-a", 5, "open"),
      cognitive_organ_1: () => new Promise(() => undefined),
    };
    const ORGAN = { idFromName: (name: string) => name, get: (id: string) => ({ getServiceStats: answers[id] }) };
    const started = Date.now();
    const metrics = await (await fetchWithEnv(new Request("http://localhost/metrics"), { ORGAN })).text();
    expect(Date.now() - started).toBeLessThan(1900);
    expect(sample(metrics, 'seedcore_service_requests_total{service="stats_ok"}')).toBe(1 + 5);
    expect(sample(metrics, 'seedcore_service_breaker_state{service="stats_ok"}')).toBe(2);
    expect(sample(metrics, 'seedcore_service_breakers{service="stats_ok",state="open"}')).toBe(1);
    expect(sample(metrics, 'seedcore_service_breakers{service="stats_ok",state="closed"}')).toBe(1);
    expect(sample(metrics, "seedcore_service_stats_isolates")).toBe(2);
    expect(sample(metrics, 'seedcore_service_stats_organs{outcome="answered"}')).toBe(2);
    expect(sample(metrics, 'seedcore_service_stats_organs{outcome="missing"}')).toBe(1);

    const status = await (await fetchWithEnv(new Request("http://localhost/organism/status"), { ORGAN })).json<Status>();
    expect(status.resilience.services["stats_ok"]).toMatchObject({ requests: 6, isolates: 2, breakers: { open: 1, closed: 1 } });
    expect(status.resilience.service_sources).toMatchObject({ isolates: 2, organs_answered: 2, organs_missing: 1, missing: [{ replica: "cognitive_organ_1", error: expect.stringMatching(/organ 'cognitive_organ_1'/) }] });
    expect(isolateId()).not.toBe("organ-isolate-a");
  });
});
