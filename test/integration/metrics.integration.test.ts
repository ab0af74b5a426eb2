import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { breakerFor, COORDINATOR_BREAKER, organBreakerName, resetBreakers } from "../../src/clients/breakers";
import { organismStub } from "../../src/clients/organism-client";
import { requireConfig } from "../../src/config";
import { dashboardCsp } from "../../src/dashboard/page";
import { CLIENT_SCRIPT } from "../../src/dashboard/client-script";
import { parseMetrics, sampleValue, type ParsedExposition } from "../../src/lib/prometheus";
import type { Limiter } from "../../src/lib/rate-limit";
import { claimDueTasks } from "../../src/store/claim-due-tasks";
import { reapExpiredLeases } from "../../src/store/reap-expired-leases";
import { deliver, DLQ } from "../helpers/dispatch";
import { db, getTask, insertTask, settleOtherTasks, sql } from "../helpers/tasks";
import { api, fetchWithEnv } from "../helpers/worker";

async function scrape(): Promise<ParsedExposition> {
  const res = await api("/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
  return parseMetrics(await res.text());
}

const COUNTERS = ["submitted", "claimed", "completed", "failed", "retried", "reaped", "cancelled"] as const;
type Counts = Record<(typeof COUNTERS)[number], number> & { queue_wait: number; run: number; escalations: number; dead_wakeups: number };

function counts(m: ParsedExposition): Counts {
  const out = Object.fromEntries(COUNTERS.map((c) => [c, sampleValue(m, `seedcore_tasks_${c}_total`) ?? NaN]));
  return {
    ...(out as Record<(typeof COUNTERS)[number], number>),
    queue_wait: sampleValue(m, "seedcore_task_queue_wait_seconds_count") ?? NaN,
    run: sampleValue(m, "seedcore_task_run_seconds_count") ?? NaN,
    escalations: sampleValue(m, "seedcore_escalations_total") ?? NaN,
    dead_wakeups: sampleValue(m, "seedcore_wakeups_dead_lettered_total") ?? NaN,
  };
}

async function dbStatusCounts(): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare("SELECT status, count(*) AS n FROM tasks GROUP BY status").all<{ status: string; n: number }>();
  return Object.fromEntries(results.map((r) => [r.status, r.n]));
}

describe("GET /metrics", () => {
  it("is well-formed: every sample is seedcore_-prefixed and its family has HELP and TYPE", async () => {
    const m = await scrape();
    expect(m.samples.length).toBeGreaterThan(20);
    for (const s of m.samples) {
      expect(s.name).toMatch(/^seedcore_/);
      const family = s.name.replace(/_(bucket|sum|count)$/, "");
      const name = m.type.has(s.name) ? s.name : family;
      expect(m.type.get(name), `TYPE of ${s.name}`).toMatch(/^(gauge|counter|histogram)$/);
      expect(m.help.get(name), `HELP of ${s.name}`).toBeTruthy();
    }
    expect(m.type.get("seedcore_tasks")).toBe("gauge");
    expect(m.type.get("seedcore_tasks_claimed_total")).toBe("counter");
    expect(m.type.get("seedcore_task_queue_wait_seconds")).toBe("histogram");
    expect(m.help.get("seedcore_task_run_seconds")).toContain("Time from a claim to the end of that attempt");
  });

  it("counts known work exactly, and its gauges agree with the tasks table", async () => {
    await settleOtherTasks();
    const before = counts(await scrape());

    const done = await insertTask();
    const flaky = await insertTask({ type: "flaky", params: { fail_times: 1 } });
    const unroutable = await insertTask({ type: "no_such_type" });
    const escalated = await insertTask({ drift_score: 1 });
    await deliver();
    expect((await getTask(flaky.id)).status).toBe("retry");
    await sql("UPDATE tasks SET run_after = NULL WHERE id = ?", flaky.id);
    await deliver();

    // A dispatcher that died: claimed, lease expired, reaped to retry, then cancelled.
    const lost = await insertTask();
    await claimDueTasks(db(), { token: "dead-dispatcher", now: Date.now(), leaseMs: 60_000, maxTasks: 10, maxInputBytes: 1e6 });
    await sql("UPDATE tasks SET lease_expires_at = 1 WHERE id = ?", lost.id);
    await reapExpiredLeases(db(), Date.now(), 200);
    expect((await (await api(`/tasks/${lost.id}/cancel`, { method: "POST" })).json<{ status: string }>()).status).toBe("cancelled");

    // A wake-up that died is counted; it fails no task.
    await deliver(DLQ);

    expect((await getTask(done.id)).status).toBe("completed");
    expect((await getTask(flaky.id)).status).toBe("completed");
    expect((await getTask(unroutable.id)).status).toBe("failed");
    expect((await getTask(escalated.id)).status).toBe("completed");

    const m = await scrape();
    const after = counts(m);
    const delta = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof Counts]]));
    expect(delta).toEqual({
      submitted: 5,
      claimed: 6, // done, flaky twice, unroutable, escalated, lost
      completed: 3,
      failed: 1, // unroutable (permanent)
      retried: 2, // flaky (dispatcher) and lost (reaper)
      reaped: 1,
      dead_wakeups: 1,
      cancelled: 1,
      queue_wait: 5, // first claims: done, flaky, unroutable, escalated, lost
      run: 6, // every claim ended: completed, retry, failed, reaped
      escalations: 1,
    });

    const db1 = await dbStatusCounts();
    for (const status of ["created", "queued", "running", "completed", "failed", "retry", "cancelled"]) {
      expect(sampleValue(m, "seedcore_tasks", { status }), status).toBe(db1[status] ?? 0);
    }
    const { n: claims } = (await env.DB.prepare("SELECT count(*) AS n FROM task_timeline AS e WHERE e.actor = 'dispatcher' AND e.to_status = 'running' AND e.from_status IS NOT 'running'").first<{ n: number }>())!;
    expect(after.claimed).toBe(claims);

    // Every transition counter equals a recount of the timelines (nothing was deleted in this file;
    // running → running entries are plan steps, not transitions).
    const { results: recount } = await env.DB.prepare(
      `SELECT e.actor, coalesce(e.from_status, '') AS "from", e.to_status AS "to", count(*) AS n
       FROM task_timeline AS e WHERE e.from_status IS NOT e.to_status GROUP BY 1, 2, 3`,
    ).all<{ actor: string; from: string; to: string; n: number }>();
    const served = m.samples.filter((x) => x.name === "seedcore_task_transitions_total");
    expect(served.map((x) => ({ ...x.labels, n: x.value })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual(
      recount.map((r) => ({ actor: r.actor, from: r.from, to: r.to, n: r.n })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
  });

  it("serves cumulative histograms whose +Inf bucket equals the count", async () => {
    const m = await scrape();
    for (const name of ["seedcore_task_queue_wait_seconds", "seedcore_task_run_seconds"]) {
      const buckets = m.samples.filter((s) => s.name === `${name}_bucket`);
      expect(buckets.length).toBeGreaterThan(5);
      const values = buckets.map((b) => b.value);
      expect(values).toEqual([...values].sort((a, b) => a - b));
      expect(sampleValue(m, `${name}_bucket`, { le: "+Inf" })).toBe(sampleValue(m, `${name}_count`));
      expect(sampleValue(m, `${name}_sum`)).toBeGreaterThanOrEqual(0);
    }
  });

  it("reports the coordinator: p_fast, escalations, SLO misses, organs and agents", async () => {
    const m = await scrape();
    expect(sampleValue(m, "seedcore_coordinator_up")).toBe(1);
    const pFast = sampleValue(m, "seedcore_p_fast")!;
    expect(pFast).toBeGreaterThanOrEqual(0);
    expect(pFast).toBeLessThanOrEqual(1);
    expect(sampleValue(m, "seedcore_fast_path_slo_misses_total")).toBeGreaterThanOrEqual(0);
    expect(sampleValue(m, "seedcore_organs")).toBe(3);
    const perOrgan = m.samples.filter((s) => s.name === "seedcore_organ_agents");
    expect(perOrgan.map((s) => s.labels["organ"]).sort()).toEqual(["actuator_organ_1", "cognitive_organ_1", "utility_organ_1"]);
    expect(sampleValue(m, "seedcore_agents")).toBe(perOrgan.reduce((n, s) => n + s.value, 0));
    expect(sampleValue(m, "seedcore_organ_replicas", { organ: "utility_organ_1" })).toBe(1);
    expect(sampleValue(m, "seedcore_organ_replica_tasks_processed_total", { organ: "utility_organ_1", replica: "0" })).toBe(sampleValue(m, "seedcore_organ_tasks_processed_total", { organ: "utility_organ_1" }));
  });

  it("still serves the D1 metrics when the coordinator is down", async () => {
    await insertTask();
    await deliver();
    const broken = {
      idFromName: () => ({}),
      get: () => ({ handleIncomingTask: () => Promise.reject(new Error("coordinator down")) }),
    };
    const res = await fetchWithEnv(new Request("http://localhost/metrics"), { ORGANISM_MANAGER: broken });
    expect(res.status).toBe(200);
    const m = parseMetrics(await res.text());
    expect(sampleValue(m, "seedcore_coordinator_up")).toBe(0);
    expect(sampleValue(m, "seedcore_p_fast")).toBeUndefined();
    expect(sampleValue(m, "seedcore_coordinator_load_shed_total")).toBeUndefined();
    expect(sampleValue(m, "seedcore_tasks_completed_total")).toBeGreaterThan(0);
    // This isolate's own resilience numbers need no coordinator.
    expect(sampleValue(m, "seedcore_rate_limited_total", { limiter: "api" })).toBeGreaterThanOrEqual(0);
  });

  it("says that the resilience numbers are per isolate", async () => {
    const m = await scrape();
    for (const name of ["seedcore_circuit_breaker_state", "seedcore_circuit_breaker_opens_total", "seedcore_coordinator_load_shed_total", "seedcore_rate_limited_total"]) {
      expect(m.help.get(name), name).toMatch(/per isolate/i);
    }
    expect(m.type.get("seedcore_circuit_breaker_state")).toBe("gauge");
    expect(m.help.get("seedcore_circuit_breaker_state")).toContain("0 closed, 1 half-open, 2 open");
    expect(m.type.get("seedcore_rate_limited_total")).toBe("counter");
  });

  it("reports the coordinator breaker through closed → open → half-open → closed, counting one open", async () => {
    const clock = { t: 0 };
    const config = requireConfig(env);
    resetBreakers();
    try {
      const breaker = breakerFor(COORDINATOR_BREAKER, config, () => clock.t);
      const seen = async () => {
        const m = await scrape();
        return { state: sampleValue(m, "seedcore_circuit_breaker_state", { target: COORDINATOR_BREAKER }), opens: sampleValue(m, "seedcore_circuit_breaker_opens_total", { target: COORDINATOR_BREAKER }) };
      };
      expect(await seen()).toEqual({ state: 0, opens: 0 });
      for (let i = 0; i < config.CB_FAILURE_THRESHOLD; i++) breaker.acquire()!.fail();
      expect(await seen()).toEqual({ state: 2, opens: 1 });
      clock.t += config.CB_RECOVERY_S * 1000;
      expect(await seen()).toEqual({ state: 1, opens: 1 });
      breaker.acquire()!.succeed();
      expect(await seen()).toEqual({ state: 0, opens: 1 });
    } finally {
      resetBreakers();
    }
  });

  it("counts 429s exactly, by limiter: the API rate limit and failed authentication", async () => {
    const limited = async () => {
      const m = await scrape();
      return { api: sampleValue(m, "seedcore_rate_limited_total", { limiter: "api" })!, auth: sampleValue(m, "seedcore_rate_limited_total", { limiter: "auth_failure" })! };
    };
    const before = await limited();
    const deny: Limiter = { limit: async () => ({ success: false }) };
    for (let i = 0; i < 3; i++) {
      expect((await fetchWithEnv(new Request("http://localhost/tasks"), { API_RATE_LIMITER: deny })).status).toBe(429);
    }
    const ip = `2001:db8::${crypto.randomUUID().slice(0, 4)}`;
    for (const token of ["wrong", "wrong-again", "t0k3n"]) {
      const req = new Request("https://edge.example.com/tasks", { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": ip } });
      expect((await fetchWithEnv(req, { API_TOKEN: "t0k3n", AUTH_FAIL_LIMITER: deny })).status).toBe(429);
    }
    const after = await limited();
    expect({ api: after.api - before.api, auth: after.auth - before.auth }).toEqual({ api: 3, auth: 3 });
  });

  it("reports the coordinator's load sheds as it reports them, and this isolate's organ-replica breakers", async () => {
    const coordinator = {
      getResilience: async () => ({ load: { inflight_tasks: 0, max_inflight_tasks: 2, peak_inflight_tasks: 2, shed_total: 7 } }),
      summary: () => Promise.reject(new Error("no summary today")),
    };
    resetBreakers();
    const organ = breakerFor(organBreakerName("utility_organ_1#2"), requireConfig(env));
    for (let i = 0; i < requireConfig(env).CB_FAILURE_THRESHOLD; i++) organ.acquire()!.fail();
    const res = await fetchWithEnv(new Request("http://localhost/metrics"), { ORGANISM_MANAGER: { idFromName: () => ({}), get: () => coordinator } });
    resetBreakers();
    const m = parseMetrics(await res.text());
    expect(sampleValue(m, "seedcore_coordinator_load_shed_total")).toBe(7);
    expect(sampleValue(m, "seedcore_circuit_breaker_state", { target: "organ:utility_organ_1#2" })).toBe(2);
    expect(sampleValue(m, "seedcore_circuit_breaker_opens_total", { target: "organ:utility_organ_1#2" })).toBe(1);
    // And from the real coordinator, the number its getResilience() gives.
    const real = await organismStub(env).getResilience();
    expect(sampleValue(await scrape(), "seedcore_coordinator_load_shed_total")).toBe(real.load.shed_total);
  });

  it("is served under /api/v1 too", async () => {
    const res = await api("/api/v1/metrics");
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("# TYPE seedcore_tasks gauge");
  });
});

describe("GET /stats", () => {
  it("gives counts by status matching D1 and per-minute throughput ending now", async () => {
    await insertTask();
    await deliver();
    const minuteBefore = Math.floor(Date.now() / 60_000) * 60_000;
    const res = await api("/stats?minutes=5");
    const minuteAfter = Math.floor(Date.now() / 60_000) * 60_000;
    expect(res.status).toBe(200);
    const body = await res.json<{ by_status: Record<string, number>; total: number; throughput: { minute: string; completed: number; submitted: number }[] }>();
    const db1 = await dbStatusCounts();
    expect(body.by_status).toEqual({ created: 0, queued: 0, running: 0, completed: 0, failed: 0, retry: 0, cancelled: 0, ...db1 });
    expect(body.total).toBe(Object.values(db1).reduce((a, b) => a + b, 0));
    expect(body.throughput).toHaveLength(5);
    const last = body.throughput[4]!;
    expect([minuteBefore, minuteAfter]).toContain(Date.parse(last.minute)); // a minute may turn meanwhile
    expect(body.throughput.reduce((n, m) => n + m.completed, 0)).toBeGreaterThanOrEqual(1);
  });

  it("refuses a bad window with 400", async () => {
    expect((await api("/stats?minutes=0")).status).toBe(400);
    expect((await api("/stats?minutes=61")).status).toBe(400);
  });
});

describe("GET / (dashboard)", () => {
  it("serves the page with a CSP that allows exactly its inline script", async () => {
    const res = await api("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain(`<script>${CLIENT_SCRIPT}</script>`);
    expect(html).toContain('id="submit-form"');
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toBe(await dashboardCsp());
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*'/);
    expect(csp).toContain("connect-src 'self'");
  });

  it("needs no token, while the API it calls does", async () => {
    const call = async (path: string) => {
      const res = await fetchWithEnv(new Request(`https://edge.example.com${path}`), { API_TOKEN: "t0k3n" });
      return res.status;
    };
    expect(await call("/")).toBe(200);
    expect(await call("/api/v1")).toBe(200);
    expect(await call("/stats")).toBe(401);
    expect(await call("/metrics")).toBe(401);
  });
});
