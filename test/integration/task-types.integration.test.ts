import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { serviceErrorCode, type SeedCoreBinding } from "../../src/service-client";
import { api, postJson } from "../helpers/worker";

const service = exports.SeedCoreService as unknown as SeedCoreBinding;

interface ErrorBody {
  error: { code: string; message: string; details?: { fields?: { path: string; message: string }[] } };
}

const taskCount = async () => (await env.DB.prepare("SELECT count(*) AS n FROM tasks").first<{ n: number }>())?.n ?? 0;
const scheduleCount = async () => (await env.DB.prepare("SELECT count(*) AS n FROM schedules").first<{ n: number }>())?.n ?? 0;

/** Sends the request and expects a 400 whose message starts with `path: `, with no task (and no schedule) written. */
async function refused(send: () => Promise<Response>, path: string, message?: RegExp): Promise<ErrorBody> {
  const [tasks, schedules] = [await taskCount(), await scheduleCount()];
  const res = await send();
  expect(res.status).toBe(400);
  const body = await res.json<ErrorBody>();
  expect(body.error.code).toBe("validation_failed");
  expect(body.error.message.startsWith(`${path}: `), body.error.message).toBe(true);
  if (message) expect(body.error.message).toMatch(message);
  expect(body.error.details?.fields?.[0]?.path).toBe(path);
  expect(await taskCount()).toBe(tasks);
  expect(await scheduleCount()).toBe(schedules);
  return body;
}

const UNKNOWN = /unknown task type 'no_such_type'; GET \/types lists the defined types/;

describe("submit-time checks of type and params", () => {
  it("POST /tasks refuses an unknown type and bad params, naming the field", async () => {
    await refused(() => postJson("/tasks", { type: "no_such_type" }), "type", UNKNOWN);
    await refused(() => postJson("/tasks", { type: "sleep", params: { ms: 10_001 } }), "params.ms");
    await refused(() => postJson("/tasks", { type: "sleep", params: { ms: "10" } }), "params.ms");
    await refused(() => postJson("/tasks", { type: "execute", params: { action: "rm -rf" } }), "params.action");
    await refused(() => postJson("/tasks", { type: "execute", params: { action: "sum", input: "1,2" } }), "params.input", /array of numbers/);
    await refused(() => postJson("/api/v1/tasks", { type: "flaky", params: { fail_times: -1 } }), "params.fail_times");
  });

  it("POST /tasks accepts good params with extra keys, and read-only control types", async () => {
    const before = await taskCount();
    const ok = await postJson("/tasks", { type: "sleep", params: { ms: 5, note: "extra keys pass" }, run_immediately: false });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ params: { ms: 5, note: "extra keys pass" } });
    const control = await postJson("/tasks", { type: "get_organism_status", run_immediately: false });
    expect(control.status).toBe(201);
    expect(await taskCount()).toBe(before + 2);
  });

  it("POST /tasks/batch refuses the whole batch for one bad item, naming tasks.i", async () => {
    const good = { type: "ping", run_immediately: false };
    await refused(() => postJson("/tasks/batch", { tasks: [good, good, good, { type: "sleep", params: { ms: -5 } }] }), "tasks.3.params.ms");
    await refused(() => postJson("/tasks/batch", { tasks: [good, { type: "no_such_type" }] }), "tasks.1.type", UNKNOWN);
  });

  it("schedules refuse an unknown type and bad params on create and update", async () => {
    const schedule = (task: unknown, name = "types-check") => ({ name, cron: "0 * * * *", task });
    await refused(() => postJson("/schedules", schedule({ type: "no_such_type" })), "task.type", UNKNOWN);
    await refused(() => postJson("/schedules", schedule({ type: "sleep", params: { ms: 1.5 } })), "task.params.ms");

    const created = await postJson("/schedules", schedule({ type: "sleep", params: { ms: 1 } }, "types-check-ok"));
    expect(created.status).toBe(201);
    const patch = (task: unknown) => () => api("/schedules/types-check-ok", { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ task }) });
    await refused(patch({ type: "sleep", params: { ms: 99_999 } }), "task.params.ms");
    await refused(patch({ type: "no_such_type" }), "task.type", UNKNOWN);
    expect(await (await api("/schedules/types-check-ok")).json()).toMatchObject({ task: { type: "sleep", params: { ms: 1 } } });
    expect((await api("/schedules/types-check-ok", { method: "DELETE" })).status).toBe(200);
  });

  it("the service binding refuses them too, with nothing written", async () => {
    const before = await taskCount();
    const messageOf = async (p: Promise<unknown>) => {
      try {
        await p;
        return null;
      } catch (err) {
        expect(serviceErrorCode(err)).toBe("validation_failed");
        return (err as Error).message;
      }
    };
    expect(await messageOf(service.submit({ type: "no_such_type" }))).toMatch(/^validation_failed: type: unknown task type 'no_such_type'/);
    expect(await messageOf(service.submit({ type: "sleep", params: { ms: 20_000 } }))).toMatch(/^validation_failed: params\.ms: /);
    expect(await messageOf(service.submitBatch([{ type: "ping" }, { type: "execute", params: { action: "nope" } }]))).toMatch(/^validation_failed: tasks\.1\.params\.action: /);
    expect(await taskCount()).toBe(before);
  });

  it("a definition's max_attempts is the default of its tasks; the submission's own wins", async () => {
    const { registerTasks } = await import("../../src/tasks/registry");
    const { defineTask } = await import("../../src/tasks/define-task");
    const { z } = await import("zod");
    registerTasks([defineTask({ type: "test_five_attempts", max_attempts: 5, params: z.looseObject({}), run: () => null })]);
    const dflt = await postJson("/tasks", { type: "test_five_attempts", run_immediately: false });
    expect(await dflt.json()).toMatchObject({ max_attempts: 5 });
    const own = await postJson("/tasks", { type: "test_five_attempts", max_attempts: 2, run_immediately: false });
    expect(await own.json()).toMatchObject({ max_attempts: 2 });
  });
});

describe("GET /types", () => {
  interface Defined {
    type: string;
    description: string | null;
    timeout_s: number | null;
    max_attempts: number | null;
    retry: unknown;
    organ: string | null;
    params_schema: Record<string, unknown> | null;
  }

  it("lists the built-ins with their params schema, the control types, and still the page of seen types", async () => {
    for (const path of ["/types", "/api/v1/types"]) {
      const res = await api(path);
      expect(res.status).toBe(200);
      const body = await res.json<{ types: Defined[]; control_types: string[]; items: unknown[]; next_cursor: string | null }>();
      const types = body.types.map((t) => t.type);
      for (const t of ["general_query", "health_check", "status", "ping", "test_task", "test", "execute", "workflow_step", "side_effect", "analyze", "plan", "sleep", "flaky"]) {
        expect(types).toContain(t);
      }
      const sleep = body.types.find((t) => t.type === "sleep");
      expect(sleep).toMatchObject({ timeout_s: null, max_attempts: null, retry: null, organ: null });
      expect(sleep?.description).toMatch(/params\.ms/);
      expect(sleep?.params_schema).toMatchObject({
        type: "object",
        properties: { ms: { anyOf: [{ type: "integer", minimum: 0, maximum: 10_000 }, { type: "null" }] } },
      });
      expect(body.types.find((t) => t.type === "execute")?.params_schema).toMatchObject({ required: ["action"], properties: { action: { enum: ["noop", "echo", "uppercase", "sum", "sort"] } } });
      expect(body.control_types).toContain("get_organism_status");
      expect(Array.isArray(body.items)).toBe(true);
      expect(body).toHaveProperty("next_cursor");
    }
  });

  it("leaves /types/{type} and its pause and resume as they were", async () => {
    expect((await postJson("/tasks", { type: "ping", run_immediately: false })).status).toBe(201);
    expect(await (await api("/types/ping")).json()).toMatchObject({ type: "ping" });
    expect((await postJson("/types/ping/pause", {})).status).toBe(200);
    expect(await (await postJson("/types/ping/resume", {})).json()).toMatchObject({ type: "ping", paused: false });
  });
});
