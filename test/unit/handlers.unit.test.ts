import { describe, expect, it } from "vitest";
import { z } from "zod";
import { BUILTIN_TASKS } from "../../src/tasks/builtins";
import { PermanentError } from "../../src/tasks/errors";
import { taskDefinition, taskDefinitions } from "../../src/tasks/registry";
import { fakeTaskContext, runDefinition, type FakeContextOptions } from "../helpers/task-context";

/** Runs the registered definition of `type` with a fresh fake context; the recorder comes back too. */
async function run(type: string, params: Record<string, unknown> = {}, options: FakeContextOptions = {}) {
  const def = taskDefinition(type);
  if (!def) throw new Error(`no definition of ${type}`);
  const { ctx, recorded } = fakeTaskContext({ ...options, task: { type, ...options.task } });
  return { result: (await runDefinition(def, params, ctx)) as Record<string, unknown>, recorded };
}
const result = async (...args: Parameters<typeof run>) => (await run(...args)).result;

/** The issues a params object gets from the type's schema (empty: accepted). */
function refusal(type: string, params: Record<string, unknown>): { path: string; message: string }[] {
  const parsed = (taskDefinition(type) as NonNullable<ReturnType<typeof taskDefinition>>).params.safeParse(params);
  return parsed.success ? [] : parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}

describe("the registry", () => {
  it("starts with every built-in, and the built-ins' types are the old handlers'", () => {
    const types = taskDefinitions().map((d) => d.type);
    expect(types).toEqual(expect.arrayContaining(BUILTIN_TASKS.map((d) => d.type)));
    expect(BUILTIN_TASKS.map((d) => d.type).sort()).toEqual(
      ["analyze", "execute", "flaky", "general_query", "health_check", "ping", "plan", "side_effect", "sleep", "status", "test", "test_task", "workflow_step"].sort(),
    );
  });
  it("looks types up by own key only", () => {
    expect(taskDefinition("toString")).toBeUndefined();
    expect(taskDefinition("__proto__")).toBeUndefined();
  });
  it("gives every built-in a params schema that converts to JSON Schema and lets extra keys through", () => {
    for (const def of BUILTIN_TASKS) {
      expect(z.toJSONSchema(def.params, { io: "input" })).toMatchObject({ type: "object" });
    }
    expect(refusal("ping", { anything: [1, { deep: true }] })).toEqual([]);
  });
});

describe("general_query", () => {
  it("answers the UTC time from the description", async () => {
    expect(await result("general_query", {}, { task: { description: "what time is it in UTC?" } })).toMatchObject({
      query_type: "time",
      answer: "2026-01-15T09:30:00.000Z",
    });
  });
  it("computes arithmetic from params.query", async () => {
    expect(await result("general_query", { query: "what is 12*(3+4)?" })).toMatchObject({ query_type: "arithmetic", answer: 84 });
  });
  it("answers the date, system status and general questions", async () => {
    expect(await result("general_query", { query: "what is the date today?" })).toMatchObject({ answer: "2026-01-15", weekday: "Thursday" });
    expect(await result("general_query", { query: "system status?" })).toMatchObject({ query_type: "system_status" });
    expect(await result("general_query", { query: "tell me a story" })).toMatchObject({ query_type: "general" });
  });
  it("ignores a query that is not a string, as before, and uses the description", async () => {
    expect(refusal("general_query", { query: 42 })).toEqual([]);
    expect(await result("general_query", { query: 42 }, { task: { description: "what is 2+2?" } })).toMatchObject({ answer: 4 });
    expect(await result("general_query", { query: "  " }, { task: { description: "what is 2+3?" } })).toMatchObject({ answer: 5 });
  });
});

describe("other built-ins", () => {
  it("echoes test_task params, description and type (test too)", async () => {
    expect(await result("test_task", { a: 1 }, { task: { description: "d" } })).toEqual({ echo: { a: 1 }, description: "d", task_type: "test_task" });
    expect(await result("test", { a: 1 })).toEqual({ echo: { a: 1 }, description: null, task_type: "test" });
  });
  it("execute runs only safe actions; its schema refuses the rest naming the field", async () => {
    expect(await result("execute", { action: "sum", input: [1, 2, 3] })).toEqual({ action: "sum", output: 6 });
    expect(await result("execute", { action: "sort", input: [3, 1, 2] })).toEqual({ action: "sort", output: [1, 2, 3] });
    expect(await result("execute", { action: "uppercase", input: "abc" })).toEqual({ action: "uppercase", output: "ABC" });
    expect(await result("execute", { action: "echo" })).toEqual({ action: "echo", output: null });
    expect(await result("execute", { action: "noop" })).toEqual({ action: "noop" });
    expect(refusal("execute", { action: "rm -rf" })).toEqual([expect.objectContaining({ path: "action" })]);
    expect(refusal("execute", {})).toEqual([expect.objectContaining({ path: "action" })]);
    expect(refusal("execute", { action: "uppercase", input: 5 })).toEqual([{ path: "input", message: "uppercase needs params.input as a string" }]);
    expect(refusal("execute", { action: "sum", input: [1, "2"] })).toEqual([{ path: "input", message: "sum needs params.input as an array of numbers" }]);
    expect(refusal("execute", { action: "sort" })).toEqual([{ path: "input", message: "sort needs params.input as an array of numbers" }]);
  });
  it("plan splits a goal; nothing to plan is a permanent failure", async () => {
    expect(((await result("plan", { goal: "fetch data then clean it and report" }))["steps"] as unknown[]).length).toBe(3);
    expect(await result("plan", {}, { task: { description: "a; b" } })).toEqual({ goal: "a; b", steps: [{ step: 1, description: "a" }, { step: 2, description: "b" }] });
    await expect(run("plan", { goal: " , ; " })).rejects.toBeInstanceOf(PermanentError);
    await expect(run("plan", {})).rejects.toThrow(/nothing to plan/);
  });
  it("analyze counts words and numbers", async () => {
    expect(await result("analyze", { data: "one 2 three 4" })).toMatchObject({ words: 4, numbers_sum: 6, numbers_mean: 3 });
    expect(await result("analyze", { data: [1, 2] })).toMatchObject({ numbers: 2, numbers_sum: 3 });
    expect(await result("analyze", {}, { task: { description: "a b" } })).toMatchObject({ words: 2, numbers_mean: null });
  });
  it("sleep waits on ctx.sleep and bounds ms", async () => {
    const { result: slept, recorded } = await run("sleep", { ms: 250 });
    expect(slept).toEqual({ slept_ms: 250 });
    expect(recorded.sleeps).toEqual([250]);
    expect(await result("sleep", {})).toEqual({ slept_ms: 0 });
    expect(await result("sleep", { ms: null })).toEqual({ slept_ms: 0 });
    for (const ms of [10_001, -1, 1.5, "10"]) expect(refusal("sleep", { ms })).toEqual([expect.objectContaining({ path: "ms" })]);
    expect(refusal("sleep", { ms: 10_000 })).toEqual([]);
  });
  it("sleep aborts with the signal", async () => {
    const def = taskDefinition("sleep") as NonNullable<ReturnType<typeof taskDefinition>>;
    const { ctx, controller } = fakeTaskContext({ realSleep: true });
    const running = runDefinition(def, { ms: 10_000 }, ctx);
    controller.abort(new Error("deadline"));
    await expect(running).rejects.toThrow("deadline");
  });
  it("flaky fails retriably while attempt <= fail_times", async () => {
    const failed = run("flaky", { fail_times: 2 }, { attempt: 2 });
    await expect(failed).rejects.toThrow("flaky failure on attempt 2 of 2");
    await expect(failed).rejects.not.toBeInstanceOf(PermanentError);
    expect(await result("flaky", { fail_times: 2 }, { attempt: 3 })).toEqual({ attempt: 3, fail_times: 2 });
    await expect(run("flaky", {}, { attempt: 1 })).rejects.toThrow(/attempt 1 of 1/);
    expect(await result("flaky", {}, { attempt: 2 })).toEqual({ attempt: 2, fail_times: 1 });
    for (const fail_times of [-1, 0.5, "2"]) expect(refusal("flaky", { fail_times })).toEqual([expect.objectContaining({ path: "fail_times" })]);
  });
  it("health_check, status, ping, workflow_step and side_effect answer with the clock and the task", async () => {
    expect(await result("health_check")).toEqual({ status: "healthy", checked_at: "2026-01-15T09:30:00.000Z" });
    expect(await result("status", {}, { task: { domain: "facts" } })).toEqual({ status: "operational", domain: "facts", at: "2026-01-15T09:30:00.000Z" });
    expect(await result("ping")).toEqual({ pong: true, at: "2026-01-15T09:30:00.000Z" });
    expect(await result("workflow_step", { step: "load" })).toEqual({ step: "load", status: "done", at: "2026-01-15T09:30:00.000Z" });
    expect(await result("workflow_step")).toMatchObject({ step: null });
    expect(await result("side_effect", { effect: "mail" }, { task: { id: "t1" } })).toEqual({ effect: "mail", idempotency_key: "t1", applied: true });
  });
});
