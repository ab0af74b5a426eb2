import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { Organ } from "../../durable-objects/organ";
import type { Remote } from "../../src/lib/remote";
import type { RunReport, TaskWork } from "../../src/organism/organ-contracts";
import { requireConfig } from "../../src/config";
import { evict } from "./organism-helpers";

type RawOrganStub = ReturnType<typeof env.ORGAN.get>;
/** Typed by the class's own signatures (see `Remote`); the generated stub types collapse results to `never`. */
type OrganRpc = Remote<Pick<Organ, "initialize" | "run" | "abort" | "getSummary" | "getAgentHistory" | "deliver">>;
const organ = (name: string) => env.ORGAN.get(env.ORGAN.idFromName(name)) as unknown as Omit<RawOrganStub, keyof OrganRpc> & OrganRpc;
const spec = (organ_id: string, agent_count = 3, replicas = 1, replica = 0, epoch = 1) => ({ organ_id, organ_type: "Utility" as const, agent_count, replicas, replica, epoch, task_types: ["ping"] });
/** Runs the tasks one call each, one after another (each call's outcome is recorded before the next picks its agent). */
const run = async (stub: OrganRpc, tasks: TaskWork[]): Promise<RunReport[]> => {
  const reports: RunReport[] = [];
  for (const t of tasks) reports.push(await stub.run(t));
  return reports;
};
const organTask = (type: string, params: Record<string, unknown> = {}): TaskWork => ({
  id: crypto.randomUUID(), type, params, description: null, domain: null, attempt: 1,
  token: null, deadline: Date.now() + 60_000, parents: null, last_heartbeat: null,
});

describe("Organ", () => {
  it("creates agents idempotently with Utility role probabilities", async () => {
    const id = `organ-${crypto.randomUUID()}`;
    const stub = organ(id);
    await stub.initialize(spec(id));
    const summary = await stub.initialize(spec(id));
    expect(summary.agents.map((a) => a.agent_id)).toEqual([`${id}_agent_0`, `${id}_agent_1`, `${id}_agent_2`]);
    expect(summary.agents[0]).toMatchObject({ role_probs: { E: 0.2, S: 0.3, O: 0.5 }, capability: 0.5, mem_util: 0, tasks_processed: 0 });
  });

  it("runs each task on the best agent and applies c = 0.9c + 0.1(0.6s + 0.4q) in SQLite", async () => {
    const id = `organ-${crypto.randomUUID()}`;
    const stub = organ(id);
    await stub.initialize(spec(id));
    const results = await run(stub, [organTask("ping"), organTask("execute", { action: "nope" })]);
    // Ties go to the first agent, and its success keeps it ahead, so both tasks land on agent 0.
    expect(results.map((r) => [r.agent_id, r.verdict.ok, r.verdict.ok ? null : r.verdict.retriable])).toEqual([[`${id}_agent_0`, true, null], [`${id}_agent_0`, false, false]]);
    expect(results[0]!.verdict).toEqual({ ok: true, result: { pong: true, at: expect.any(String) } });
    const expected = 0.9 * (0.9 * 0.5 + 0.1 * (0.6 + 0.4)) + 0.1 * 0;
    // Outcomes are written within 50 ms of each other; a read through the organ writes them first.
    await stub.getSummary();
    const row = await runInDurableObject(stub as unknown as RawOrganStub, (_i: Organ, state) =>
      state.storage.sql.exec<{ capability: number; successes: number; failures: number; quality_scores: string }>(
        "SELECT capability, successes, failures, quality_scores FROM agents WHERE agent_id = ?", `${id}_agent_0`).one());
    expect(row.capability).toBeCloseTo(expected, 10);
    expect(row).toMatchObject({ successes: 1, failures: 1, quality_scores: "[1,0]" });
    // Agent 0 ended below c = 0.5 (0.495) and holds memory, so the next task goes to agent 1.
    const next = await run(stub, [organTask("ping")]);
    expect(next[0]!.agent_id).toBe(`${id}_agent_1`);
  });

  it("keeps the last 20 quality scores and 100 task records, written within 50 ms unasked, and reloads them after eviction", async () => {
    const id = `organ-${crypto.randomUUID()}`;
    let stub = organ(id);
    await stub.initialize(spec(id, 1));
    await run(stub, Array.from({ length: 105 }, () => organTask("ping")));
    // Nothing reads the agents before the eviction: the coalescing timer writes the last outcomes.
    await new Promise((resolve) => setTimeout(resolve, 150));
    await evict(stub);
    stub = organ(id);
    const summary = await stub.getSummary();
    expect(summary.agents[0]).toMatchObject({ tasks_processed: 105, mem_util: 1, avg_quality: 1 });
    expect(summary.agents[0]!.quality_scores).toHaveLength(20);
    expect(await stub.getAgentHistory(`${id}_agent_0`, 500)).toHaveLength(100);
  });

  it("refuses work retriably before it is initialised and permanently for unknown types", async () => {
    const id = `organ-${crypto.randomUUID()}`;
    const stub = organ(id);
    expect(await stub.run(organTask("ping"))).toMatchObject({ not_run: true, verdict: { ok: false, retriable: true, error: "organ is not initialized" } });
    await stub.initialize(spec(id));
    expect(await stub.run(organTask("teleport"))).toMatchObject({ verdict: { ok: false, retriable: false, error: "unknown task type 'teleport' (no definition)" } });
  });
});

describe("Organ limits", () => {
  it("fails a result over RESULT_MAX_BYTES permanently; one just under it comes back whole", async () => {
    const id = `organ-${crypto.randomUUID()}`;
    const stub = organ(id);
    await stub.initialize({ ...spec(id), task_types: ["test_task"] });
    const max = requireConfig(env).RESULT_MAX_BYTES;
    // test_task echoes its params: {"echo":{"blob":"…"},"description":null,"task_type":"test_task"} is 62 bytes besides the blob.
    const under = await stub.run(organTask("test_task", { blob: "x".repeat(max - 1000) }));
    expect(under.verdict).toMatchObject({ ok: true, result: { echo: { blob: expect.any(String) } } });
    const over = await stub.run(organTask("test_task", { blob: "x".repeat(max) }));
    expect(over.verdict).toEqual({ ok: false, retriable: false, error: expect.stringMatching(new RegExp(`^result of \\d+ bytes exceeds RESULT_MAX_BYTES \\(${max}\\)$`)) });
    // A result the organ refused is a failure of its agent like any other.
    expect((await stub.getAgentHistory(over.agent_id!, 10))[0]).toMatchObject({ task_id: over.task_id, error: expect.stringContaining("exceeds RESULT_MAX_BYTES") });
  });

  it("ends a run at its deadline: a retriable timeout, the late result discarded", async () => {
    const id = `organ-${crypto.randomUUID()}`;
    const stub = organ(id);
    await stub.initialize({ ...spec(id), task_types: ["sleep"] });
    const started = Date.now();
    const report = await stub.run({ ...organTask("sleep", { ms: 5000 }), deadline: Date.now() + 100 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(report.verdict).toMatchObject({ ok: false, retriable: true, timedOut: true, error: expect.stringMatching(/^timed out/) });
  });

  it("holds one agent-record timer at a time, however many bursts end before it fires (100k backlog: 10,000 active timeouts)", async () => {
    const id = `organ-${crypto.randomUUID()}`;
    const stub = organ(id);
    await stub.initialize({ ...spec(id), task_types: ["ping", "sleep"] });
    const active = await runInDurableObject(stub as unknown as RawOrganStub, async (instance: Organ) => {
      // A loaded isolate fires timers late: here the 5 ms coalescing timers wait 60 s, so every one
      // not cleared stays active, as they did under load.
      const realSet = globalThis.setTimeout;
      const realClear = globalThis.clearTimeout;
      const late = new Set<unknown>();
      globalThis.setTimeout = ((fn: () => void, ms?: number) => {
        if (ms !== 5) return realSet(fn, ms);
        const h = realSet(() => (late.delete(h), fn()), 60_000);
        late.add(h);
        return h;
      }) as typeof setTimeout;
      globalThis.clearTimeout = ((h: number) => (late.delete(h), realClear(h))) as typeof clearTimeout;
      let most = 0;
      try {
        // 50 bursts: a ping ends while a 2 ms sleep still runs (its record waits), then the sleep
        // ends last and writes both at once.
        for (let i = 0; i < 50; i++) {
          await Promise.all([instance.run(organTask("sleep", { ms: 2 })), instance.run(organTask("ping"))]);
          most = Math.max(most, late.size);
        }
      } finally {
        for (const h of late) realClear(h as number);
        globalThis.setTimeout = realSet;
        globalThis.clearTimeout = realClear;
      }
      return most;
    });
    expect(active).toBeLessThanOrEqual(1);
  });

  it("abort(ids) stops the runs in progress here (cancel, lost lease) and names them", async () => {
    const id = `organ-${crypto.randomUUID()}`;
    const stub = organ(id);
    await stub.initialize({ ...spec(id), task_types: ["sleep"] });
    const work = organTask("sleep", { ms: 5000 });
    const running = stub.run(work);
    await vi.waitFor(async () => expect(await stub.abort([work.id, "not-running"])).toEqual([work.id]), { timeout: 2000, interval: 20 });
    const report = await running;
    expect(report.verdict).toMatchObject({ ok: false, retriable: false, cancelled: true });
    expect(await stub.abort([work.id])).toEqual([]);
  });

  it("partitions agents across replicas and keeps every agent's state when the replica count changes", async () => {
    const id = `organ-${crypto.randomUUID()}`;
    const one = organ(id);
    await one.initialize(spec(id, 4));
    // A success and a failure leave agent 0 below its peers, so the next task lands on agent 1.
    await run(one, [organTask("ping"), organTask("execute", { action: "nope" })]);
    await run(one, [organTask("ping")]);
    const before = (await one.getSummary()).agents;
    const history = await one.getAgentHistory(`${id}_agent_1`, 100);
    expect(history.length).toBeGreaterThan(0);
    // Two replicas: agents 0 and 2 stay in replica 0 (the organ's own object), 1 and 3 move to replica 1.
    await one.initialize(spec(id, 4, 2, 0, 2));
    const two = organ(`${id}#1`);
    await two.initialize(spec(id, 4, 2, 1, 2));
    expect(await one.deliver()).toEqual([]);
    const after = [...(await one.getSummary()).agents, ...(await two.getSummary()).agents].sort((a, b) => a.agent_id.localeCompare(b.agent_id));
    expect((await one.getSummary()).agents.map((a) => a.agent_id)).toEqual([`${id}_agent_0`, `${id}_agent_2`]);
    expect(after).toEqual(before);
    expect(await two.getAgentHistory(`${id}_agent_1`, 100)).toEqual(history);
    expect(await one.getAgentHistory(`${id}_agent_1`, 100)).toEqual([]);
  });
});
