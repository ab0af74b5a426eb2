import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Organ } from "../../durable-objects/organ";
import { requireConfig } from "../../src/config";
import type { Remote } from "../../src/lib/remote";
import { followUpDeps } from "../../src/follow-ups";
import { runMaintenancePass } from "../../src/maintenance/maintenance-pass";
import { stepTaskId } from "../../src/organism/plan-progress";
import { recordingQueue } from "../helpers/recording-queue";
import { drain } from "../helpers/dispatch";
import { db, eventsOf, getTask, insertTask, settleOtherTasks, sql } from "../helpers/tasks";
import { api } from "../helpers/worker";

const organ = (name: string) => env.ORGAN.get(env.ORGAN.idFromName(name)) as unknown as Remote<Pick<Organ, "runsOf">>;
const step = (organ_id: string, type: string, params: Record<string, unknown> = {}) => ({ organ_id, task: { type, params } });
/** drift 1 trips the OCPS valve whatever its state, so the task escalates and runs params.plan. */
const planned = (plan: unknown[]) => insertTask({ type: "general_query", drift_score: 1, params: { plan } });
/** The task's stored steps, as ctx.step keeps them: the plan, then one row per finished plan step. */
const stepNames = async (id: string) =>
  (await env.DB.prepare("SELECT name FROM task_steps WHERE task_id = ? ORDER BY name").bind(id).all<{ name: string }>()).results.map((r) => r.name);

beforeEach(settleOtherTasks);

describe("durable escalation plans", () => {
  it("runs the steps in order, stores each, and shows them in the timeline and the task's JSON", async () => {
    const t = await planned([step("actuator_organ_1", "side_effect", { effect: "email" }), step("utility_organ_1", "ping"), step("cognitive_organ_1", "analyze")]);
    await drain();
    const row = await getTask(t.id);
    expect(row.status).toBe("completed");
    // The task's result is its last step's (analyze of nothing); the plan is its execution.
    expect(row.result).toEqual({ characters: 0, words: 0, numbers: 0, numbers_sum: 0, numbers_mean: null, summary: "" });
    expect(row.execution).toMatchObject({ path: "escalation", kind: "escalated", plan_source: "params" });
    const steps = (row.execution as { solution_steps: { organ_id: string; success: boolean; result: unknown }[] }).solution_steps;
    expect(steps.map((s) => [s.organ_id, s.success])).toEqual([["actuator_organ_1", true], ["utility_organ_1", true], ["cognitive_organ_1", true]]);
    expect(steps[0]!.result).toMatchObject({ effect: "email", applied: true });
    expect((await eventsOf(t.id)).map((e) => e.message)).toEqual(["submitted", "claimed", "step 1/3 completed on actuator_organ_1", "step 2/3 completed on utility_organ_1", "step 3/3 completed on cognitive_organ_1", "completed"]);
    const json = await (await api(`/tasks/${t.id}`)).json<{ plan: { plan_source: string; steps: { organ_id: string; done: boolean }[] } }>();
    expect(json.plan).toMatchObject({ plan_source: "params", steps: [{ organ_id: "actuator_organ_1", done: true }, { done: true }, { done: true }] });
    // The plan and its steps are kept by the mechanism ctx.step uses: rows of task_steps.
    expect(await stepNames(t.id)).toEqual(["plan", "plan:1", "plan:2", "plan:3"]);
    expect(json).toMatchObject({ progress: { current: 3, total: 3, message: "step 3/3 completed on cognitive_organ_1" } });
  });

  it("a step that fails retriably makes the task retry, and the retry resumes at that step", async () => {
    const t = await planned([step("actuator_organ_1", "side_effect"), step("utility_organ_1", "flaky", { fail_times: 1 }), step("utility_organ_1", "ping")]);
    await drain();
    const failed = await getTask(t.id);
    expect(failed).toMatchObject({ status: "retry", attempts: 1, error: expect.stringMatching(/^step 2\/3 failed on utility_organ_1: flaky failure/) });
    expect(await stepNames(t.id)).toEqual(["plan", "plan:1"]);
    await sql("UPDATE tasks SET run_after = NULL WHERE id = ?", t.id);
    await drain();
    expect(await getTask(t.id)).toMatchObject({ status: "completed", attempts: 2 });
    // The side effect of step 1 ran exactly once, though the task ran twice.
    expect(await organ("actuator_organ_1").runsOf(stepTaskId(t.id, 0))).toBe(1);
    expect(await organ("utility_organ_1").runsOf(stepTaskId(t.id, 1))).toBe(2);
  });

  it("after a crash in the middle of a plan, the rescued task completes and its first step ran exactly once", async () => {
    const t = await planned([step("actuator_organ_1", "side_effect"), step("utility_organ_1", "sleep", { ms: 1500 }), step("utility_organ_1", "ping")]);
    // The first dispatcher gets through step 1, then "dies" during step 2's sleep: its lease runs
    // out and the reaper takes the task back. Its late writes are fenced out by the claim token.
    const dying = drain();
    await vi.waitUntil(async () => (await stepNames(t.id)).includes("plan:1"), { timeout: 5000, interval: 20 });
    await sql("UPDATE tasks SET lease_expires_at = ? WHERE id = ?", Date.now() - 1, t.id);
    const config = requireConfig(env);
    expect(await runMaintenancePass({ db: db(), queue: recordingQueue().queue, config, now: Date.now, statementsUsed: () => 0, followUp: followUpDeps(env, db()) })).toMatchObject({ reaped: 1 });
    await drain();
    await dying;
    const row = await getTask(t.id);
    expect(row).toMatchObject({ status: "completed", attempts: 2 });
    expect((row.execution as { solution_steps: unknown[] }).solution_steps).toHaveLength(3);
    expect(row.result).toMatchObject({ pong: true });
    expect(await organ("actuator_organ_1").runsOf(stepTaskId(t.id, 0))).toBe(1);
    expect((await eventsOf(t.id)).filter((e) => e.message === "step 1/3 completed on actuator_organ_1")).toHaveLength(1);
  });
});
