import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/tasks/define-task";
import { registerTasks } from "../../src/tasks/registry";
import { drain } from "../helpers/dispatch";
import { getTask, insertTask, settleOtherTasks, until } from "../helpers/tasks";
import { api, fetchWithEnv } from "../helpers/worker";

/**
 * Executors (issue 22, DESIGN §16) through the real path: claim → organ → the executor. The http
 * executor posts to the loopback server (test/loopback-server.mjs, real HTTP; vitest.config.ts sets
 * EXECUTOR_ALLOW_LOOPBACK); the service executor calls a second Worker (test/fixtures/exec-worker.mjs)
 * through the service binding EXEC_FIXTURE.
 */
const origin = inject("loopbackOrigin");
const exec = (query: string) => `${origin}/exec?${query}`;
const anyParams = z.record(z.string(), z.unknown());
const http = (type: string, query: string, timeout_s?: number) =>
  defineTask({ type, params: anyParams, executor: { kind: "http", url: exec(query) }, ...(timeout_s ? { timeout_s } : {}) });

registerTasks([
  http("ex_http_ok", "tag=ok"),
  http("ex_http_429", "status=429&retry_after=120"),
  http("ex_http_503", "status=503&retry_after=30"),
  http("ex_http_500", "status=500"),
  http("ex_http_400", "status=400&pad=2000"),
  http("ex_http_nonretryable", "status=500&nonretryable=1"),
  http("ex_http_202", "status=202"),
  http("ex_http_slow", "ms=3000&tag=slow", 1),
  http("ex_http_lag", "ms=1500&tag=lag", 10),
  defineTask({ type: "ex_http_refused", params: anyParams, executor: { kind: "http", url: "http://127.0.0.1:1/nothing-listens" } }),
  defineTask({ type: "ex_http_private", params: anyParams, executor: { kind: "http", url: "https://10.0.0.1/run" } }),
  defineTask({ type: "ex_svc", params: z.object({ mode: z.string(), ms: z.number().optional() }), executor: { kind: "service", binding: "EXEC_FIXTURE" } }),
  defineTask({ type: "ex_svc_slow", params: z.object({ mode: z.string(), ms: z.number().optional() }), timeout_s: 1, executor: { kind: "service", binding: "EXEC_FIXTURE" } }),
  defineTask({ type: "ex_svc_missing", params: anyParams, executor: { kind: "service", binding: "NO_SUCH_BINDING" } }),
]);

beforeEach(settleOtherTasks);

describe("the http executor", () => {
  it("posts the signed task JSON with its id, attempt and deadline; a 2xx JSON body is the result", async () => {
    const task = await insertTask({ type: "ex_http_ok", params: { n: 7 } });
    await drain();
    const row = await getTask(task.id);
    expect(row.status).toBe("completed");
    const result = row.result as { task: Record<string, unknown>; headers: Record<string, string>; signature_ok: boolean };
    expect(result.signature_ok).toBe(true);
    expect(result.task).toMatchObject({ id: task.id, type: "ex_http_ok", params: { n: 7 }, attempt: 1 });
    expect(result.headers).toMatchObject({ "seedcore-task-id": task.id, "seedcore-attempt": "1", "seedcore-deadline": result.task["deadline"] });
    expect(Date.parse(result.headers["seedcore-deadline"]!)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("429/503 with Retry-After retry at that time", async () => {
    const [a, b] = [await insertTask({ type: "ex_http_429" }), await insertTask({ type: "ex_http_503" })];
    const before = Date.now();
    await drain();
    const [ra, rb] = [await getTask(a.id), await getTask(b.id)];
    expect(ra).toMatchObject({ status: "retry", attempts: 1 });
    expect(ra.error).toMatch(/answered 429: retry after 120s/);
    expect(ra.runAfter! - before).toBeGreaterThanOrEqual(120_000);
    expect(ra.runAfter! - Date.now()).toBeLessThanOrEqual(120_000);
    expect(rb.status).toBe("retry");
    expect(rb.runAfter! - before).toBeGreaterThanOrEqual(30_000);
    expect(rb.runAfter! - Date.now()).toBeLessThanOrEqual(30_000);
  });

  it("other 5xx and a refused connection retry with backoff; a 202 leaves the task running (test/integration/pull-workers)", async () => {
    const tasks = [await insertTask({ type: "ex_http_500" }), await insertTask({ type: "ex_http_refused" }), await insertTask({ type: "ex_http_202" })];
    await drain();
    const [e500, refused, accepted] = await Promise.all(tasks.map((t) => getTask(t.id)));
    expect(e500).toMatchObject({ status: "retry" });
    expect(e500!.error).toMatch(/answered 500: refused: 500/);
    expect(refused).toMatchObject({ status: "retry" });
    expect(refused!.error).toMatch(/could not be reached/);
    expect(accepted).toMatchObject({ status: "running", attempts: 1, error: null });
  });

  it("other 4xx and SeedCore-NonRetryable fail at once, with the status and the first bytes of the body", async () => {
    const [bad, non, priv] = [await insertTask({ type: "ex_http_400" }), await insertTask({ type: "ex_http_nonretryable" }), await insertTask({ type: "ex_http_private" })];
    await drain();
    const r400 = await getTask(bad.id);
    expect(r400).toMatchObject({ status: "failed", attempts: 1 });
    expect(r400.error).toMatch(/answered 400: refused: 400 x+ …$/);
    expect(r400.error!.length).toBeLessThan(1000);
    const rNon = await getTask(non.id);
    expect(rNon).toMatchObject({ status: "failed" });
    expect(rNon.error).toMatch(/answered 500: \(non-retryable\) refused: 500/);
    const rPriv = await getTask(priv.id);
    expect(rPriv).toMatchObject({ status: "failed" });
    expect(rPriv.error).toMatch(/url host 10\.0\.0\.1 is a private address/);
  });

  it("cuts the request at the deadline: the attempt fails retriably as a timeout", async () => {
    const task = await insertTask({ type: "ex_http_slow" });
    await drain();
    const row = await getTask(task.id);
    expect(row.status).toBe("retry");
    expect(row.error).toMatch(/timed out/);
  });

  it("a slow receiver holds up no other type: a fast built-in of the same pass completes first", async () => {
    const slow = await insertTask({ type: "ex_http_lag" });
    const fast = await insertTask({ type: "ping" });
    const drained = drain();
    const done = await until(() => getTask(fast.id), (t) => t.status === "completed");
    expect(done.status).toBe("completed");
    expect((await getTask(slow.id)).status).toBe("running");
    await drained;
    expect((await getTask(slow.id)).status).toBe("completed");
  });
});

describe("the service executor", () => {
  it("calls the entrypoint's run with the task; its return value is the result", async () => {
    const task = await insertTask({ type: "ex_svc", params: { mode: "ok" } });
    await drain();
    const row = await getTask(task.id);
    expect(row.status).toBe("completed");
    expect(row.result).toMatchObject({ echoed: { id: task.id, type: "ex_svc", params: { mode: "ok" }, attempt: 1, deadline: expect.any(String) } });
  });

  it("passes a context whose heartbeat and progress reach the task", async () => {
    const task = await insertTask({ type: "ex_svc", params: { mode: "context" } });
    await drain();
    const json = await (await api(`/tasks/${task.id}`)).json<Record<string, unknown>>();
    expect(json).toMatchObject({ status: "completed", result: { heartbeat: { cancel_requested: false } }, progress: { current: 1, total: 2, message: "half" } });
  });

  it("maps `permanent:` to failed, `retry_after=S:` to a retry then, anything else to a retry with backoff", async () => {
    const [p, r, f] = [
      await insertTask({ type: "ex_svc", params: { mode: "permanent" } }),
      await insertTask({ type: "ex_svc", params: { mode: "retry_after" } }),
      await insertTask({ type: "ex_svc", params: { mode: "flaky" } }),
    ];
    const before = Date.now();
    await drain();
    const rp = await getTask(p.id);
    expect(rp).toMatchObject({ status: "failed", attempts: 1 });
    expect(rp.error).toMatch(/permanent: the input cannot be processed/);
    const rr = await getTask(r.id);
    expect(rr.status).toBe("retry");
    expect(rr.runAfter! - before).toBeGreaterThanOrEqual(42_000);
    expect(rr.runAfter! - Date.now()).toBeLessThanOrEqual(42_000);
    const rf = await getTask(f.id);
    expect(rf.status).toBe("retry");
    expect(rf.error).toMatch(/upstream hiccup/);
  });

  it("times out at the deadline; a missing binding fails", async () => {
    const [slow, missing] = [await insertTask({ type: "ex_svc_slow", params: { mode: "slow", ms: 3000 } }), await insertTask({ type: "ex_svc_missing" })];
    await drain();
    const rs = await getTask(slow.id);
    expect(rs.status).toBe("retry");
    expect(rs.error).toMatch(/timed out/);
    const rm = await getTask(missing.id);
    expect(rm).toMatchObject({ status: "failed" });
    expect(rm.error).toMatch(/no binding 'NO_SUCH_BINDING'/);
  });
});

describe("TASK_EXECUTORS", () => {
  it("defines a type of its own: accepted at submit with any JSON object as params, run by its executor", async () => {
    const res = await api("/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "ex_cfg_service", params: { anything: [1, 2] } }) });
    expect(res.status).toBe(201);
    const { id } = await res.json<{ id: string }>();
    const scored = await api("/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "ex_cfg_score", params: { n: 4 } }) });
    const { id: scoreId } = await scored.json<{ id: string }>();
    await drain();
    expect((await getTask(id)).error).toBeNull();
    expect(await getTask(id)).toMatchObject({ status: "completed", result: { echoed: { id, type: "ex_cfg_service", params: { anything: [1, 2] } } } });
    expect(await getTask(scoreId)).toMatchObject({ status: "completed", result: { score: 40 } });
  });

  it("lists its types in GET /types", async () => {
    const { types } = await (await api("/types")).json<{ types: { type: string; description: string | null }[] }>();
    expect(types.find((t) => t.type === "ex_cfg_service")?.description).toMatch(/service binding EXEC_FIXTURE \(TASK_EXECUTORS\)/);
    expect(types.some((t) => t.type === "ex_http_ok")).toBe(true);
  });

  it("a type nothing defines is still refused at submit", async () => {
    const res = await api("/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "ex_nobody" }) });
    expect(res.status).toBe(400);
    expect(typeof env.EXEC_FIXTURE).toBe("object");
  });
});

describe("GET /readyz", () => {
  it("answers 503 naming a bad TASK_EXECUTORS", async () => {
    const res = await fetchWithEnv(new Request("http://localhost/readyz"), { TASK_EXECUTORS: JSON.stringify({ a: { kind: "http", url: "http://hooks.example.com/" } }) });
    expect(res.status).toBe(503);
    const body = await res.json<{ deps: Record<string, { ok: boolean; error?: string }> }>();
    expect(body.deps["config"]?.error).toMatch(/TASK_EXECUTORS\.a\.url: must be https/);
  });
});
