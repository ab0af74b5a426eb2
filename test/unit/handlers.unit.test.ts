import { describe, expect, it } from "vitest";
import { handlerFor, HANDLERS } from "../../durable-objects/handlers/registry";
import type { Clock, HandlerTask } from "../../durable-objects/handlers/types";

const NOW = Date.UTC(2026, 0, 15, 9, 30, 0);
const sleeps: number[] = [];
const clock: Clock = { now: () => NOW, sleep: async (ms) => void sleeps.push(ms) };
const task = (type: string, params: Record<string, unknown> = {}, description: string | null = null, attempt = 1): HandlerTask =>
  ({ id: "t1", type, params, description, domain: null, attempt });
const run = async (t: HandlerTask) => (handlerFor(t.type) as NonNullable<ReturnType<typeof handlerFor>>)(t, clock);

describe("general_query", () => {
  it("answers the UTC time from the description", async () => {
    const r = await run(task("general_query", {}, "what time is it in UTC?"));
    expect(r.success).toBe(true);
    expect(r.result).toMatchObject({ query_type: "time", answer: "2026-01-15T09:30:00.000Z" });
  });
  it("computes arithmetic from params.query", async () => {
    const r = await run(task("general_query", { query: "what is 12*(3+4)?" }));
    expect(r.result).toMatchObject({ query_type: "arithmetic", answer: 84 });
  });
  it("answers the date, system status and general questions", async () => {
    expect((await run(task("general_query", { query: "what is the date today?" }))).result).toMatchObject({ answer: "2026-01-15", weekday: "Thursday" });
    expect((await run(task("general_query", { query: "system status?" }))).result).toMatchObject({ query_type: "system_status" });
    expect((await run(task("general_query", { query: "tell me a story" }))).result).toMatchObject({ query_type: "general" });
  });
});

describe("other handlers", () => {
  it("echoes test_task params", async () => {
    expect((await run(task("test_task", { a: 1 }))).result).toMatchObject({ echo: { a: 1 } });
  });
  it("execute runs only safe actions", async () => {
    expect((await run(task("execute", { action: "sum", input: [1, 2, 3] }))).result).toMatchObject({ output: 6 });
    expect(await run(task("execute", { action: "rm -rf" }))).toMatchObject({ success: false, retry: false });
  });
  it("plan splits a goal and analyze counts words", async () => {
    expect((await run(task("plan", { goal: "fetch data then clean it and report" }))).result?.["steps"]).toHaveLength(3);
    expect((await run(task("analyze", { data: "one 2 three 4" }))).result).toMatchObject({ words: 4, numbers_sum: 6 });
  });
  it("sleep waits on the clock and bounds ms", async () => {
    expect((await run(task("sleep", { ms: 250 }))).result).toEqual({ slept_ms: 250 });
    expect(sleeps).toContain(250);
    expect(await run(task("sleep", { ms: 10_001 }))).toMatchObject({ success: false, retry: false });
  });
  it("flaky fails retriably while attempt <= fail_times", async () => {
    expect(await run(task("flaky", { fail_times: 2 }, null, 2))).toMatchObject({ success: false, retry: true });
    expect(await run(task("flaky", { fail_times: 2 }, null, 3))).toMatchObject({ success: true });
  });
  it("health_check, status, ping, workflow_step and side_effect succeed", async () => {
    for (const type of ["health_check", "status", "ping", "workflow_step", "side_effect", "test"]) {
      expect((await run(task(type))).success).toBe(true);
    }
  });
  it("looks types up case-insensitively and only own keys", () => {
    expect(handlerFor(" General_Query ")).toBe(HANDLERS["general_query"]);
    expect(handlerFor("toString")).toBeUndefined();
  });
});
