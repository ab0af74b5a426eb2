import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { resetBreakers } from "../../src/clients/breakers";
import { controlTasks } from "../../src/clients/control-tasks";
import { organClient, organStub, type OrganRpc } from "../../src/clients/organ-client";
import { requireConfig } from "../../src/config";
import { executeTasks } from "../../src/dispatch/execute-tasks";
import { ORGAN_CALL_TASKS, QUIET_CALL_TASKS, type OrganGroupCall } from "../../src/dispatch/organ-calls";
import { UNSTORED_PLANS } from "../../src/dispatch/run-plans";
import type { PassReport } from "../../src/organism/decisions";
import type { TaskEnvelope, TaskOutcome } from "../../src/organism/task-contracts";
import { defineTask } from "../../src/tasks/define-task";
import { registerTasks } from "../../src/tasks/registry";
import { postJson } from "../helpers/worker";
import { z } from "zod";
import { freshCoordinator, task } from "./organism-helpers";

const config = requireConfig(env);
/** A type that does not say it opens no connections (the default for user code). */
const IO_TYPE = "dtr_may_connect";
registerTasks([defineTask({ type: IO_TYPE, params: z.looseObject({}), run: () => ({ ran: true }) })]);
const flagged = (flag: string) => Object.assign(new Error(flag), { [flag]: true });

/** executeTasks against a fresh coordinator, counting every coordinator and organ call. */
function counted(coord = freshCoordinator(), group?: OrganGroupCall) {
  const organs = organClient(config, { stub: (name) => organStub(env, name) });
  const counts = { decide: 0, report: 0, organCalls: [] as string[] };
  const reports: PassReport[] = [];
  /** The outcomes in task order (each task's first: the one a pass records). */
  const run = async (tasks: TaskEnvelope[]): Promise<TaskOutcome[]> => {
    const outcomes = new Map<string, TaskOutcome>();
    await executeTasks(
      crypto.randomUUID(),
      tasks,
      {
        config,
        decide: (pass, t) => (counts.decide++, coord.decide(pass, t)),
        call: (replica, work, timeoutMs) => (counts.organCalls.push(replica), organs.run(replica, work, timeoutMs)),
        callGroup: (replica, works, timeoutMs, onReport) => (counts.organCalls.push(replica), (group ?? organs.runGroup)(replica, works, timeoutMs, onReport)),
        abort: (replica, ids) => organs.abort(replica, ids),
        control: controlTasks(() => coord),
        report: (r) => (counts.report++, reports.push(r), coord.report(r)),
        plans: UNSTORED_PLANS,
        now: Date.now,
      },
      { outcome: (o) => void (outcomes.has(o.id) || outcomes.set(o.id, o)), started: () => undefined },
    );
    return tasks.map((t): TaskOutcome => outcomes.get(t.id) ?? { id: t.id, ok: false, retriable: true, error: "no outcome" });
  };
  return { coord, counts, reports, run };
}

describe("the coordinator decides, the dispatcher delivers", () => {
  it("one decide and one report per pass, one organ call per group of up to QUIET_CALL_TASKS tasks of a replica whose types open no connections", async () => {
    const { counts, run, reports } = counted();
    const tasks = [...Array.from({ length: 40 }, () => task("ping")), ...Array.from({ length: 10 }, () => task("execute", { params: { action: "noop" } }))];
    const outcomes = await run(tasks);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(counts.decide).toBe(1);
    expect(counts.report).toBe(1);
    expect(counts.organCalls.filter((r) => r === "utility_organ_1")).toHaveLength(Math.ceil(40 / QUIET_CALL_TASKS));
    expect(counts.organCalls.filter((r) => r === "actuator_organ_1")).toHaveLength(Math.ceil(10 / QUIET_CALL_TASKS));
    expect(counts.organCalls).toHaveLength(Math.ceil(40 / QUIET_CALL_TASKS) + Math.ceil(10 / QUIET_CALL_TASKS));
    expect(reports[0]).toMatchObject({ successes: 50, failures: 0, by_organ: { utility_organ_1: { tasks: 40 }, actuator_organ_1: { tasks: 10 } } });
  });

  it("groups at QUIET_CALL_TASKS and past it; a type that may open connections goes ORGAN_CALL_TASKS to a call", async () => {
    for (const n of [QUIET_CALL_TASKS, QUIET_CALL_TASKS + 1]) {
      const { counts, run } = counted();
      expect((await run(Array.from({ length: n }, () => task("ping")))).every((o) => o.ok)).toBe(true);
      expect(counts.organCalls, `${n} quiet tasks`).toHaveLength(Math.ceil(n / QUIET_CALL_TASKS));
    }
    const { counts, run } = counted();
    const loud = Array.from({ length: ORGAN_CALL_TASKS + 1 }, () => task(IO_TYPE));
    expect((await run([...loud, task("ping")])).every((o) => o.ok)).toBe(true);
    // 7 of a type without the flag: 6 + 1; the ping goes in a call of its own, not with them.
    expect(counts.organCalls).toHaveLength(3);
  });

  it("an unreachable replica fails only its own tasks, retriably (the attempt counts: they may have run)", async () => {
    const organs = organClient(config, { stub: (name) => organStub(env, name) });
    const call: OrganGroupCall = async (replica, t, ms, onReport) => {
      if (replica === "actuator_organ_1") throw new Error("network connection lost");
      return organs.runGroup(replica, t, ms, onReport);
    };
    const { run } = counted(freshCoordinator(), call);
    const [ping, act] = await run([task("ping"), task("execute", { params: { action: "noop" } })]);
    expect(ping).toMatchObject({ ok: true });
    expect(act).toEqual({ id: expect.any(String), ok: false, retriable: true, error: "organ 'actuator_organ_1' unavailable: network connection lost" });
  });

  it("an overloaded organ is not called again at once: its tasks come back not run, to retry with backoff", async () => {
    resetBreakers();
    let calls = 0;
    const overloaded = { runGroup: async () => { calls++; throw flagged("overloaded"); }, abort: async () => [] } as unknown as OrganRpc;
    const organs = organClient(config, { stub: () => overloaded });
    const { run } = counted(freshCoordinator(), organs.runGroup);
    const [outcome] = await run([task("ping")]);
    expect(outcome).toMatchObject({ ok: false, retriable: true, notRun: true });
    expect(calls).toBe(1);
    resetBreakers();
  });

  it("a 'retryable' organ error is retried once within the same call", async () => {
    resetBreakers();
    let calls = 0;
    const real = organStub(env, "utility_organ_1");
    const flaky = {
      runGroup: async (...args: Parameters<OrganRpc["runGroup"]>) => {
        if (++calls === 1) throw flagged("retryable");
        return real.runGroup(...args);
      },
      collect: (...args: Parameters<OrganRpc["collect"]>) => real.collect(...args),
      abort: (...args: Parameters<OrganRpc["abort"]>) => real.abort(...args),
    } as unknown as OrganRpc;
    const organs = organClient(config, { stub: () => flaky, sleep: async () => undefined });
    const { run } = counted(freshCoordinator(), organs.runGroup);
    expect((await run([task("ping")]))[0]).toMatchObject({ ok: true });
    expect(calls).toBe(2);
    resetBreakers();
  });

  it("a coordinator that cannot decide runs nothing: every task comes back with its attempt", async () => {
    const broken = { decide: async () => { throw new Error("coordinator down"); }, report: async () => undefined } as unknown as ReturnType<typeof freshCoordinator>;
    const { run, counts } = counted(broken);
    const outcomes = await run([task("ping"), task("ping")]);
    expect(outcomes.every((o) => !o.ok && o.notRun)).toBe(true);
    expect(counts.organCalls).toEqual([]);
  });
});

describe("organ replicas", () => {
  it("1,000 tasks over 4 replicas reach all four (each ≥ 150), and the summary shows four", async () => {
    const coord = freshCoordinator();
    const organId = `util_${crypto.randomUUID().slice(0, 8)}`;
    const init = await coord.initialize({ organs: [{ organ_id: organId, organ_type: "Utility", agent_count: 4, replicas: 4, task_types: ["ping"] }] });
    expect(init.ok).toBe(true);
    const { run, counts } = counted(coord);
    for (let i = 0; i < 10; i++) await run(Array.from({ length: 100 }, () => task("ping")));
    expect(new Set(counts.organCalls)).toEqual(new Set([organId, `${organId}#1`, `${organId}#2`, `${organId}#3`]));
    const summary = await coord.summary();
    if (!summary.ok) throw new Error(summary.error);
    const organ = summary.value.organs[organId]!;
    expect(organ.replicas.map((r) => r.replica)).toEqual([0, 1, 2, 3]);
    expect(organ.tasks_processed).toBe(1000);
    for (const r of organ.replicas) expect(r.tasks_processed).toBeGreaterThanOrEqual(150);
    expect(organ.agents.map((a) => a.agent_id)).toEqual([0, 1, 2, 3].map((i) => `${organId}_agent_${i}`));
  });

  it("changing the replica count keeps every agent's learned state", async () => {
    const coord = freshCoordinator();
    const organId = `util_${crypto.randomUUID().slice(0, 8)}`;
    const spec = (replicas: number) => ({ organs: [{ organ_id: organId, organ_type: "Utility", agent_count: 4, replicas, task_types: ["ping", "flaky"] }] });
    await coord.initialize(spec(1));
    const { run } = counted(coord);
    await run([...Array.from({ length: 30 }, () => task("ping")), ...Array.from({ length: 10 }, () => task("flaky", { params: { fail_times: 1 } }))]);
    const agents = async () => {
      const s = await coord.summary();
      if (!s.ok) throw new Error(s.error);
      return s.value.organs[organId]!.agents.map(({ agent_id, capability, tasks_processed, successes, failures, quality_scores }) => ({ agent_id, capability, tasks_processed, successes, failures, quality_scores }));
    };
    const before = await agents();
    expect(before.reduce((n, a) => n + a.tasks_processed, 0)).toBe(40);
    await coord.initialize(spec(3));
    expect(await agents()).toEqual(before);
    await coord.initialize(spec(2));
    expect(await agents()).toEqual(before);
  });
});

describe("control through routes only", () => {
  it("refuses every mutating control type as a task, naming its route; the read-only ones are accepted", async () => {
    for (const [type, route] of [["initialize_organism", "POST /organism/initialize"], ["shutdown_organism", "POST /organism/shutdown"], ["execute_on_organ", "POST /organism/execute/{organ_id}"], ["execute_on_random_organ", "POST /organism/execute-random"]]) {
      const res = await postJson("/tasks", { type });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: "validation_failed", message: `type: '${type}' changes the organism and is not accepted as a task; use ${route}` } });
      const batch = await postJson("/tasks/batch", { tasks: [{ type: "ping" }, { type }] });
      expect(batch.status).toBe(400);
    }
    for (const type of ["get_organism_status", "get_organism_summary", "get_metrics", "get_routing_debug"]) {
      expect((await postJson("/tasks", { type, run_immediately: false })).status).toBe(201);
    }
  });
});
