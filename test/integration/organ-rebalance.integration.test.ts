import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { HANDOFF_RETRY_MS, type Organ } from "../../durable-objects/organ";
import { pendingShipments } from "../../durable-objects/agent-store";
import type { TaskOutcome } from "../../src/organism/task-contracts";
import { replicaName } from "../../src/organism/replicas";
import type { Remote } from "../../src/lib/remote";
import { nextEpoch } from "../../durable-objects/coordinator-store";
import { executionOf, freshCoordinator, objectStub, runVia, task } from "./organism-helpers";

type RawOrganStub = ReturnType<typeof env.ORGAN.get>;
type OrganRpc = Remote<Pick<Organ, "getSummary" | "getAgentHistory" | "initialize" | "run" | "receive" | "deliver">>;
const rawOrgan = (name: string) => env.ORGAN.get(env.ORGAN.idFromName(name));
const organ = (name: string) => rawOrgan(name) as unknown as OrganRpc;

/**
 * Holds every `sleep` task on the given replicas until `open()`: the organs run in this isolate,
 * so their injected clock can wait on a promise of the test's. `held` counts tasks waiting.
 */
async function holdSleeps(names: string[]) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const state = { held: 0 };
  for (const name of names) {
    await runInDurableObject(rawOrgan(name) as RawOrganStub, (instance: Organ) => {
      instance.clock = { now: () => Date.now(), sleep: () => (state.held++, gate) };
    });
  }
  return { state, open };
}

const organSpec = (organId: string, replicas: number) => ({ organs: [{ organ_id: organId, organ_type: "Utility" as const, agent_count: 4, replicas, task_types: ["ping", "sleep", "flaky"] }] });
const pings = (n: number) => Array.from({ length: n }, () => task("ping"));
const agentOf = (o: TaskOutcome) => {
  if (!o.execution) throw new Error(`task ${o.id} did not run: ${o.ok ? "" : o.error}`);
  return executionOf(o)["agent_id"] as string;
};

/**
 * Runs 30 tasks, then 40 `sleep` tasks that are held inside the organs while the organ goes from
 * `from` to `to` replicas, then 30 more: every task ran once, so every agent must count exactly
 * the tasks it ran and keep each of them in its history (100 tasks: no history is pruned). The
 * first three tasks fail, one per agent in turn, so on one replica the held tasks go to agent 3,
 * which moves when the organ grows.
 */
async function rebalanceUnderLoad(from: number, to: number) {
  const coord = freshCoordinator();
  const organId = `util_${crypto.randomUUID().slice(0, 8)}`;
  expect((await coord.initialize(organSpec(organId, from))).ok).toBe(true);
  const outcomes: TaskOutcome[] = [];
  for (let i = 0; i < 3; i++) outcomes.push(...(await runVia(coord, [task("flaky", { params: { fail_times: 1 } })])));
  outcomes.push(...(await runVia(coord, pings(27))));
  const { state, open } = await holdSleeps(Array.from({ length: from }, (_, r) => replicaName(organId, r)));
  const inflight = runVia(coord, Array.from({ length: 40 }, () => task("sleep", { params: { ms: 1 } })));
  await vi.waitFor(() => expect(state.held).toBe(40));
  expect(await coord.initialize(organSpec(organId, to))).toMatchObject({ ok: true });
  open();
  outcomes.push(...(await inflight), ...(await runVia(coord, pings(30))));

  const ran = new Map<string, string[]>();
  for (const o of outcomes) ran.set(agentOf(o), [...(ran.get(agentOf(o)) ?? []), o.id]);
  const summary = await coord.summary();
  if (!summary.ok) throw new Error(summary.error);
  const summarised = summary.value.organs[organId]!;
  expect(summarised.tasks_processed).toBe(100);
  expect(summarised.agents.map((a) => [a.agent_id, a.tasks_processed])).toEqual([0, 1, 2, 3].map((i) => [`${organId}_agent_${i}`, ran.get(`${organId}_agent_${i}`)?.length ?? 0]));
  for (const agent of summarised.agents) {
    const owner = replicaName(organId, Number(agent.agent_id.split("_").pop()) % to);
    const history = await organ(owner).getAgentHistory(agent.agent_id, 100);
    expect(history.map((r) => r.task_id).sort()).toEqual([...(ran.get(agent.agent_id) ?? [])].sort());
    expect(agent.successes + agent.failures).toBe(agent.tasks_processed);
    expect(agent.quality_scores).toHaveLength(Math.min(20, agent.tasks_processed));
  }
}

describe("agents keep what they learned when an organ's replicas change under load", () => {
  it("4 → 1 replicas with tasks in flight on every replica: each task counted once, on its agent", async () => {
    await rebalanceUnderLoad(4, 1);
  });

  it("1 → 4 replicas with tasks in flight: each task counted once, on its agent", async () => {
    await rebalanceUnderLoad(1, 4);
  });

  it("4 → 2 replicas with tasks in flight: each task counted once, on its agent", async () => {
    await rebalanceUnderLoad(4, 2);
  });
});

describe("the issue's repro: 1,500 tasks while the replica count changes", () => {
  it.each([[4, 1], [1, 4]])("%i → %i replicas: tasks_processed grows by exactly 1,500", async (from, to) => {
    const coord = freshCoordinator();
    const organId = `util_${crypto.randomUUID().slice(0, 8)}`;
    await coord.initialize(organSpec(organId, from));
    // Three failures, one per agent, first: on one replica the held tasks then go to agent 3, which moves.
    const outcomes: TaskOutcome[] = [];
    for (let i = 0; i < 3; i++) outcomes.push(...(await runVia(coord, [task("flaky", { params: { fail_times: 1 } })])));
    outcomes.push(...(await runVia(coord, pings(97))));
    for (let batch = 0; batch < 6; batch++) outcomes.push(...(await runVia(coord, pings(100))));
    const { state, open } = await holdSleeps(Array.from({ length: from }, (_, r) => replicaName(organId, r)));
    const inflight = runVia(coord, Array.from({ length: 100 }, () => task("sleep", { params: { ms: 1 } })));
    await vi.waitFor(() => expect(state.held).toBe(100));
    await coord.initialize(organSpec(organId, to));
    open();
    outcomes.push(...(await inflight));
    for (let batch = 0; batch < 7; batch++) outcomes.push(...(await runVia(coord, pings(100))));
    expect(new Set(outcomes.map(agentOf)).size).toBe(4);
    expect(outcomes.filter((o) => o.ok)).toHaveLength(1497);
    const summary = await coord.summary();
    if (!summary.ok) throw new Error(summary.error);
    expect(summary.value.organs[organId]!.tasks_processed).toBe(1500);
  });
});

describe("hand-offs between replicas", () => {
  const layout = (organ_id: string, replicas: number, replica: number, epoch: number) => ({ organ_id, organ_type: "Utility" as const, agent_count: 2, replicas, replica, epoch, task_types: ["ping"] });
  const pingTasks = (n: number) => Array.from({ length: n }, () => ({
    id: crypto.randomUUID(), type: "ping", params: {}, description: null, domain: null, attempt: 1,
    token: null, deadline: Date.now() + 60_000, parents: null, last_heartbeat: null,
  }));
  const counts = async (stub: OrganRpc) => (await stub.getSummary()).agents.map((a) => [a.agent_id, a.tasks_processed]);

  /** Two replicas of two agents; replica 1's agent runs three tasks; then the organ shrinks to one replica at epoch 2. */
  async function shrinking() {
    const id = `organ-${crypto.randomUUID()}`;
    const [zero, one] = [organ(id), organ(`${id}#1`)];
    await zero.initialize(layout(id, 2, 0, 1));
    await one.initialize(layout(id, 2, 1, 1));
    for (const t of pingTasks(3)) await one.run(t);
    await one.initialize(layout(id, 1, 1, 2));
    return { id, zero, one };
  }

  it("a shipment sent again (its confirmation lost) is merged once", async () => {
    const { id, zero, one } = await shrinking();
    await zero.initialize(layout(id, 1, 0, 2));
    const shipments = await runInDurableObject(rawOrgan(`${id}#1`) as RawOrganStub, (_o: Organ, state) => pendingShipments(state.storage.sql).get(id) ?? []);
    expect(shipments.map((s) => s.agent.agent_id)).toEqual([`${id}_agent_1`]);
    expect(await zero.receive(`${id}#1`, shipments)).toBe(true);
    expect(await zero.receive(`${id}#1`, shipments)).toBe(true);
    expect(await one.deliver()).toEqual([]);
    expect(await counts(zero)).toEqual([[`${id}_agent_0`, 0], [`${id}_agent_1`, 3]]);
    expect(await runInDurableObject(rawOrgan(`${id}#1`) as RawOrganStub, (_o: Organ, state) => pendingShipments(state.storage.sql).size)).toBe(0);
  });

  it("a replica on an older layout refuses a shipment; it waits in the outbox, retried every HANDOFF_RETRY_MS by the alarm until taken", async () => {
    const { id, zero, one } = await shrinking();
    const alarmOf = () => runInDurableObject(rawOrgan(`${id}#1`) as RawOrganStub, (_o: Organ, state) => state.storage.getAlarm());
    let before = Date.now();
    expect(await one.deliver()).toEqual([`${id} is on an older layout`]);
    expect(await alarmOf()).toBeGreaterThanOrEqual(before + HANDOFF_RETRY_MS);
    expect(await alarmOf()).toBeLessThanOrEqual(Date.now() + HANDOFF_RETRY_MS);
    expect(await counts(zero)).toEqual([[`${id}_agent_0`, 0]]);
    // Still behind when the alarm fires: nothing taken, the next try HANDOFF_RETRY_MS later.
    before = Date.now();
    expect(await runDurableObjectAlarm(rawOrgan(`${id}#1`) as RawOrganStub)).toBe(true);
    expect(await alarmOf()).toBeGreaterThanOrEqual(before + HANDOFF_RETRY_MS);
    expect(await counts(zero)).toEqual([[`${id}_agent_0`, 0]]);
    await zero.initialize(layout(id, 1, 0, 2));
    expect(await runDurableObjectAlarm(rawOrgan(`${id}#1`) as RawOrganStub)).toBe(true);
    expect(await counts(zero)).toEqual([[`${id}_agent_0`, 0], [`${id}_agent_1`, 3]]);
    expect(await alarmOf()).toBeNull();
  });
});

describe("an initialisation that fails part-way", () => {
  it("leaves no agent behind: the next one, even to fewer replicas, reaches every replica the failed one moved agents to", async () => {
    const coord = freshCoordinator();
    const organId = `util_${crypto.randomUUID().slice(0, 8)}`;
    await coord.initialize(organSpec(organId, 1));
    for (let i = 0; i < 3; i++) await runVia(coord, [task("flaky", { params: { fail_times: 1 } })]);
    await runVia(coord, pings(20));
    // Replica 1 cannot take shipments (its inbox table is gone), so going to 4 replicas fails after
    // agents 2 and 3 reached replicas 2 and 3.
    const inbox = (drop: boolean) => runInDurableObject(rawOrgan(`${organId}#1`) as RawOrganStub, (_o: Organ, state) => {
      state.storage.sql.exec(drop ? "DROP TABLE inbox" : "CREATE TABLE inbox (source TEXT PRIMARY KEY, seq INTEGER NOT NULL)");
    });
    await inbox(true);
    expect(await coord.initialize(organSpec(organId, 4))).toMatchObject({ ok: false, error: expect.stringContaining("agent hand-off not delivered") });
    await inbox(false);
    expect(await coord.initialize(organSpec(organId, 2))).toMatchObject({ ok: true });
    const summary = await coord.summary();
    if (!summary.ok) throw new Error(summary.error);
    expect(summary.value.organs[organId]!.tasks_processed).toBe(23);
    expect(summary.value.organs[organId]!.agents.map((a) => a.tasks_processed).every((n) => n > 0)).toBe(true);
  });
});

describe("layout epochs", () => {
  it("only increase, even when the clock stands still or goes back", async () => {
    const epochs = await runInDurableObject(objectStub(freshCoordinator()), (_c: unknown, state) => [1_000, 1_000, 5, 2_000].map((now) => nextEpoch(state.storage.kv, now)));
    expect(epochs).toEqual([1_000, 1_001, 1_002, 2_000]);
  });
});
