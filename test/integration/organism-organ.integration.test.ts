import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Organ } from "../../durable-objects/organ";
import type { Remote } from "../../src/lib/remote";
import { evict } from "./organism-helpers";

type RawOrganStub = ReturnType<typeof env.ORGAN.get>;
/** Typed by the class's own signatures (see `Remote`); the generated stub types collapse results to `never`. */
type OrganRpc = Remote<Pick<Organ, "initialize" | "executeBatch" | "getSummary" | "getAgentHistory">>;
const organ = (name: string) => env.ORGAN.get(env.ORGAN.idFromName(name)) as unknown as Omit<RawOrganStub, keyof OrganRpc> & OrganRpc;
const spec = (organ_id: string, agent_count = 3) => ({ organ_id, organ_type: "Utility" as const, agent_count, task_types: ["ping"] });
const organTask = (type: string, params: Record<string, unknown> = {}) => ({ id: crypto.randomUUID(), type, params, description: null, domain: null, attempt: 1 });

describe("Organ", () => {
  it("creates agents idempotently with Utility role probabilities", async () => {
    const id = `organ-${crypto.randomUUID()}`;
    const stub = organ(id);
    await stub.initialize(spec(id));
    const summary = await stub.initialize(spec(id));
    expect(summary.agents.map((a) => a.agent_id)).toEqual([`${id}_agent_0`, `${id}_agent_1`, `${id}_agent_2`]);
    expect(summary.agents[0]).toMatchObject({ role_probs: { E: 0.2, S: 0.3, O: 0.5 }, capability: 0.5, mem_util: 0, tasks_processed: 0 });
  });

  it("runs a batch on the best agent and applies c = 0.9c + 0.1(0.6s + 0.4q) in SQLite", async () => {
    const id = `organ-${crypto.randomUUID()}`;
    const stub = organ(id);
    await stub.initialize(spec(id));
    const results = await stub.executeBatch([organTask("ping"), organTask("execute", { action: "nope" })]);
    // Ties go to the first agent, so both tasks land on agent 0.
    expect(results.map((r) => [r.agent_id, r.success, r.retry])).toEqual([[`${id}_agent_0`, true, false], [`${id}_agent_0`, false, false]]);
    const expected = 0.9 * (0.9 * 0.5 + 0.1 * (0.6 + 0.4)) + 0.1 * 0;
    const row = await runInDurableObject(stub as unknown as RawOrganStub, (_i: Organ, state) =>
      state.storage.sql.exec<{ capability: number; successes: number; failures: number; quality_scores: string }>(
        "SELECT capability, successes, failures, quality_scores FROM agents WHERE agent_id = ?", `${id}_agent_0`).one());
    expect(row.capability).toBeCloseTo(expected, 10);
    expect(row).toMatchObject({ successes: 1, failures: 1, quality_scores: "[1,0]" });
    // Agent 0 ended below c = 0.5 (0.495) and holds memory, so the next task goes to agent 1.
    const next = await stub.executeBatch([organTask("ping")]);
    expect(next[0]!.agent_id).toBe(`${id}_agent_1`);
  });

  it("keeps the last 20 quality scores and 100 task records, and reloads them after eviction", async () => {
    const id = `organ-${crypto.randomUUID()}`;
    let stub = organ(id);
    await stub.initialize(spec(id, 1));
    await stub.executeBatch(Array.from({ length: 105 }, () => organTask("ping")));
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
    expect((await stub.executeBatch([organTask("ping")]))[0]).toMatchObject({ success: false, retry: true, error: "organ is not initialized" });
    await stub.initialize(spec(id));
    expect((await stub.executeBatch([organTask("teleport")]))[0]).toMatchObject({ success: false, retry: false, error: "no handler for task type 'teleport'" });
  });
});
