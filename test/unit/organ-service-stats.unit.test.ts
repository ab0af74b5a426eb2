import { describe, expect, it } from "vitest";
import { combineServiceStats, gatherOrganServiceStats, mergeServiceStats, ORGAN_STATS_GROUP, type OrganStatsRpc } from "../../src/clients/organ-service-stats";
import type { IsolateServiceStats, ServiceStats } from "../../src/services/registry";

const stats = (requests: number, state: "closed" | "half_open" | "open" = "closed", retryAfter = 0): ServiceStats => ({
  requests, ok: requests, failed: 0, retries: 1, timeouts: 0, deferred_breaker: state === "open" ? 1 : 0, deferred_rate: 0,
  breaker: { state, failure_count: state === "open" ? 3 : 0, total_calls: requests, successful_calls: requests, failed_calls: 0, circuit_opens: state === "open" ? 1 : 0, rejected_calls: 0, retry_after_ms: retryAfter },
});
const report = (isolate: string, services: Record<string, ServiceStats>): IsolateServiceStats => ({ isolate, services });

describe("mergeServiceStats", () => {
  it("sums counts over distinct isolates, counting a repeated isolate once; the worst breaker wins; breakers per state", () => {
    const merged = mergeServiceStats([report("w", { a: stats(1) }), report("o1", { a: stats(5, "open", 9000), b: stats(2) }), report("o1", { a: stats(5, "open", 9000) }), report("o2", { a: stats(3, "half_open") })]);
    expect(merged.isolates).toBe(3);
    expect(merged.services["a"]).toMatchObject({ requests: 9, ok: 9, retries: 3, deferred_breaker: 1, isolates: 3, breakers: { closed: 1, half_open: 1, open: 1 } });
    expect(merged.services["a"]?.breaker).toMatchObject({ state: "open", failure_count: 3, retry_after_ms: 9000, total_calls: 9, circuit_opens: 1 });
    expect(merged.services["b"]).toMatchObject({ requests: 2, isolates: 1, breakers: { closed: 1, half_open: 0, open: 0 } });
  });

  it("combineServiceStats says where the numbers came from", () => {
    const out = combineServiceStats(report("w", {}), { answered: [{ replica: "x", ...report("o", { a: stats(1) }) }], missing: [{ replica: "y", error: "timed out" }] }, 2);
    expect(out.service_sources).toEqual({ isolates: 2, organs_asked: 2, organs_answered: 1, organs_missing: 1, missing: [{ replica: "y", error: "timed out" }] });
    expect(out.services["a"]?.requests).toBe(1);
  });
});

describe("gatherOrganServiceStats", () => {
  it(`asks at most ${ORGAN_STATS_GROUP} replicas at once`, async () => {
    let inflight = 0;
    let peak = 0;
    const stub = (replica: string): OrganStatsRpc =>
      ({
        async getServiceStats() {
          inflight++;
          peak = Math.max(peak, inflight);
          await new Promise((r) => setTimeout(r, 5));
          inflight--;
          return report(`iso-${replica}`, {});
        },
      }) as unknown as OrganStatsRpc;
    const replicas = Array.from({ length: 11 }, (_, i) => `r${i}`);
    const out = await gatherOrganServiceStats(stub, replicas);
    expect(out.answered).toHaveLength(11);
    expect(peak).toBeLessThanOrEqual(ORGAN_STATS_GROUP);
    expect(peak).toBeGreaterThan(1);
  });

  it("a slow or failing replica is missing; after the budget the rest are not asked; nothing throws", async () => {
    const asked: string[] = [];
    const stub = (replica: string): OrganStatsRpc =>
      ({
        getServiceStats() {
          asked.push(replica);
          if (replica === "boom") throw new Error("stub broke");
          if (replica === "bad") return Promise.resolve({ nope: 1 });
          if (replica.startsWith("slow")) return new Promise(() => undefined);
          return Promise.resolve(report(replica, {}));
        },
      }) as unknown as OrganStatsRpc;
    const started = Date.now();
    const out = await gatherOrganServiceStats(stub, ["ok1", "boom", "bad", "slow1", "slow2", "late"], { callMs: 50, budgetMs: 40, group: 4 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(out.answered.map((a) => a.replica)).toEqual(["ok1"]);
    expect(out.missing.map((m) => m.replica)).toEqual(["boom", "bad", "slow1", "slow2", "late"]);
    expect(asked).toEqual(["ok1", "boom", "bad", "slow1"]);
    expect(out.missing.find((m) => m.replica === "late")?.error).toMatch(/budget was used up/);
    expect(out.missing.find((m) => m.replica === "boom")?.error).toMatch(/stub broke/);
    expect(out.missing.find((m) => m.replica === "bad")?.error).toBe("unexpected answer");
    expect(out.missing.find((m) => m.replica === "slow1")?.error).toMatch(/organ 'slow1'/);
  });
});
