import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { Organ } from "../../durable-objects/organ";
import type { TaskOutcome } from "../../src/organism/task-contracts";
import { replicaName } from "../../src/organism/replicas";
import type { Remote } from "../../src/lib/remote";
import { freshCoordinator, resultOf, runVia, task } from "./organism-helpers";

type RawOrganStub = ReturnType<typeof env.ORGAN.get>;
type OrganRpc = Remote<Pick<Organ, "getSummary" | "getAgentHistory">>;
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
  if (!o.result) throw new Error(`task ${o.id} did not run: ${o.ok ? "" : o.error}`);
  return resultOf(o)["agent_id"] as string;
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
