// runPullWorker (src/pull-worker.ts) against the fake server of the pull contract.
import { afterEach, describe, expect, it } from "vitest";
import { PermanentError, RetryAfterError, runPullWorker, type PullWorkerHandle, type PullWorkerOptions } from "../../../src/pull-worker";
// @ts-expect-error: a plain .mjs helper without types
import { startFakeServer } from "./fake-server.mjs";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(probe: () => T, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error("until: timed out");
    await sleep(10);
  }
}

type Fake = Awaited<ReturnType<typeof startFakeServer>>;
let fake: Fake;
let worker: PullWorkerHandle | null = null;
const errors: { err: unknown; op: string }[] = [];

async function setup(opts: Partial<PullWorkerOptions> & Pick<PullWorkerOptions, "handlers">, server: Parameters<typeof startFakeServer>[0] = {}) {
  fake = await startFakeServer(server);
  errors.length = 0;
  worker = runPullWorker({ url: fake.url, lease_s: 5, wait_s: 1, retry_base_ms: 20, retry_max_ms: 100, onError: (err, { op }) => errors.push({ err, op }), ...opts });
  return worker;
}

afterEach(async () => {
  await worker?.stop();
  worker = null;
  await fake?.close();
});

const ops = (id: string) => fake.calls.filter((c: { id?: string }) => c.id === id).map((c: { op: string; status: number }) => `${c.op}:${c.status}`);

describe("runPullWorker", () => {
  it("runs up to `concurrency` handlers at once and completes each with its return value", async () => {
    let running = 0;
    let peak = 0;
    await setup({
      concurrency: 3,
      handlers: {
        echo: async (task) => {
          peak = Math.max(peak, ++running);
          await sleep(50);
          running--;
          return { echoed: task.params };
        },
      },
    });
    const ids = Array.from({ length: 12 }, (_, i) => fake.add("echo", { i }));
    await until(() => ids.every((id) => fake.tasks.get(id).status === "completed"));
    expect(peak).toBe(3);
    for (const [i, id] of ids.entries()) {
      expect(fake.tasks.get(id).result).toEqual({ echoed: { i } });
      expect(fake.tasks.get(id).completions).toBe(1);
    }
    // Never asked for more than the free slots.
    const leases = fake.calls.filter((c: { op: string }) => c.op === "lease");
    expect(leases.every((c: { body: { max: number } }) => c.body.max >= 1 && c.body.max <= 3)).toBe(true);
    expect(leases[0].body).toMatchObject({ types: ["echo"], lease_s: 5, wait_s: 1 });
  });

  it("sends the bearer token", async () => {
    await setup({ token: "tok-1", handlers: { echo: () => 1 } }, { token: "tok-1" });
    const id = fake.add("echo");
    await until(() => fake.tasks.get(id).status === "completed");
    expect(fake.calls.every((c: { auth: string }) => c.auth === "Bearer tok-1")).toBe(true);
  });

  it("heartbeats a held task every heartbeat_s, with the last details, and ctx.heartbeat at once", async () => {
    await setup({
      heartbeat_s: 0.1,
      handlers: {
        slow: async (_task, ctx) => {
          const r = await ctx.heartbeat({ step: 1 });
          expect(r).toEqual({ cancel_requested: false });
          await sleep(450);
          return "ok";
        },
      },
    });
    const id = fake.add("slow");
    await until(() => fake.tasks.get(id).status === "completed");
    const beats = fake.calls.filter((c: { id?: string; op: string }) => c.id === id && c.op === "heartbeat");
    expect(beats.length).toBeGreaterThanOrEqual(4);
    expect(beats.every((c: { body: { details: unknown; lease_s: number; lease_token: string } }) => c.body.lease_s === 5 && c.body.lease_token && (c.body.details as { step: number }).step === 1)).toBe(true);
    expect(fake.tasks.get(id).details).toEqual({ step: 1 });
  });

  it("refused heartbeat details: ctx.heartbeat rejects with a PullWorkerError (400) and the automatic heartbeats go on without them", async () => {
    let refused: unknown;
    await setup({
      heartbeat_s: 0.1,
      handlers: {
        slow: async (_task, ctx) => {
          refused = await ctx.heartbeat({ blob: "x".repeat(9000) }).catch((e) => e);
          await sleep(400);
          return "ok";
        },
      },
    });
    const id = fake.add("slow");
    await until(() => fake.tasks.get(id).status === "completed");
    expect(refused).toMatchObject({ name: "PullWorkerError", status: 400 });
    const beats = fake.calls.filter((c: { id?: string; op: string }) => c.id === id && c.op === "heartbeat");
    expect(beats[0].status).toBe(400);
    expect(beats.slice(1).length).toBeGreaterThanOrEqual(2);
    expect(beats.slice(1).every((c: { status: number; body: { details?: unknown } }) => c.status === 200 && c.body.details === undefined)).toBe(true);
  });

  it("aborts the handler's signal when a heartbeat answers cancel_requested; the task fails without retry", async () => {
    let reason: unknown;
    await setup({
      heartbeat_s: 0.1,
      handlers: {
        slow: (_task, { signal }) =>
          new Promise((_, reject) =>
            signal.addEventListener("abort", () => {
              reason = signal.reason;
              reject(signal.reason);
            }),
          ),
      },
    });
    const id = fake.add("slow");
    await until(() => fake.tasks.get(id).status === "running");
    fake.cancel(id);
    await until(() => fake.tasks.get(id).status === "failed");
    expect((reason as Error).name).toBe("TaskCancelled");
    const fail = fake.calls.find((c: { id?: string; op: string }) => c.id === id && c.op === "fail");
    expect(fail.body.retryable).toBe(false);
    expect(fail.body.error).toMatch(/^cancelled:/);
  });

  it("on 409 (lease lost) aborts the handler and reports nothing for the task", async () => {
    let aborted: unknown;
    await setup({
      heartbeat_s: 0.1,
      handlers: {
        slow: async (_task, { signal }) => {
          await new Promise((r) => signal.addEventListener("abort", r));
          aborted = signal.reason;
          return "late result";
        },
      },
    });
    const id = fake.add("slow");
    await until(() => fake.tasks.get(id).status === "running");
    fake.steal(id);
    await until(() => aborted);
    expect((aborted as Error).name).toBe("LeaseLostError");
    await sleep(200);
    expect(ops(id).filter((o: string) => /^(complete|fail|release)/.test(o))).toEqual([]);
    expect(errors.some((e) => e.op === "lease_lost")).toBe(true);
    expect(worker!.running).toBe(0);
  });

  it("a lost task's handler that ignores its signal keeps its slot until the stop's grace, then is dropped without a release", async () => {
    const w = await setup({ heartbeat_s: 0.1, grace_s: 0.3, handlers: { deaf: () => new Promise(() => undefined) } });
    const id = fake.add("deaf");
    await until(() => fake.tasks.get(id).status === "running");
    fake.steal(id);
    await until(() => errors.some((e) => e.op === "lease_lost"));
    expect(w.running).toBe(1);
    await w.stop();
    expect(w.running).toBe(0);
    expect(ops(id).filter((o: string) => /^(complete|fail|release)/.test(o))).toEqual([]);
  });

  it("a throw fails the task: retryable by default, not for PermanentError or retryable:false, retry_after_s for RetryAfterError", async () => {
    await setup({
      concurrency: 4,
      handlers: {
        boom: (task) => {
          const kind = (task.params as { kind: string }).kind;
          if (kind === "plain") throw new Error("plain failure");
          if (kind === "permanent") throw new PermanentError("bad input");
          if (kind === "flag") throw Object.assign(new Error("flagged"), { retryable: false });
          throw new RetryAfterError("rate limited", 7.2);
        },
      },
    });
    const plain = fake.add("boom", { kind: "plain" }, { max_attempts: 1 });
    const permanent = fake.add("boom", { kind: "permanent" });
    const flag = fake.add("boom", { kind: "flag" });
    const after = fake.add("boom", { kind: "after" }, { max_attempts: 1 });
    await until(() => [plain, permanent, flag, after].every((id) => fake.tasks.get(id).status === "failed"));
    const failOf = (id: string) => fake.calls.find((c: { id?: string; op: string }) => c.id === id && c.op === "fail").body;
    expect(failOf(plain)).toMatchObject({ error: "plain failure", retryable: true });
    expect(failOf(plain).retry_after_s).toBeUndefined();
    expect(failOf(permanent)).toMatchObject({ error: "bad input", retryable: false });
    expect(failOf(flag)).toMatchObject({ error: "flagged", retryable: false });
    expect(failOf(after)).toMatchObject({ error: "rate limited", retryable: true, retry_after_s: 8 });
  });

  it("a result the server refuses (413) fails the task without retry", async () => {
    await setup({ handlers: { big: () => "x".repeat(20_000) } });
    const id = fake.add("big");
    await until(() => fake.tasks.get(id).status === "failed");
    expect(ops(id)).toEqual(["complete:413", "fail:200"]);
    expect(fake.calls.find((c: { id?: string; op: string }) => c.id === id && c.op === "fail").body.retryable).toBe(false);
  });

  it("retries transient 5xx answers and network failures of the server with backoff (lease, heartbeat, complete)", async () => {
    let refused = 0;
    await setup({
      heartbeat_s: 0.1,
      // The first request never reaches the server (as a refused connection).
      fetch: (input, init) => (refused++ === 0 ? Promise.reject(new TypeError("fetch failed")) : fetch(input, init)),
      handlers: {
        echo: async () => {
          await sleep(250);
          return "done";
        },
      },
    });
    fake.failNext(/^\/workers\/lease$/, 503, 3, { "retry-after": "0" });
    fake.failNext(/\/heartbeat$/, 503, 1);
    fake.failNext(/\/complete$/, 502, 2);
    const id = fake.add("echo");
    await until(() => fake.tasks.get(id).status === "completed");
    expect(fake.calls.filter((c: { op: string; status: number }) => c.op === "lease" && c.status === 503)).toHaveLength(3);
    expect(ops(id).filter((o: string) => o.startsWith("complete"))).toEqual(["complete:502", "complete:502", "complete:200"]);
    expect(fake.tasks.get(id).completions).toBe(1);
    expect(errors.filter((e) => e.op === "lease")).toHaveLength(4);
    expect(String((errors[0]!.err as Error).message)).toBe("fetch failed");
  });

  it("401 from the lease route ends the worker: done rejects with a PullWorkerError", async () => {
    const w = await setup({ token: "wrong", handlers: { echo: () => 1 } }, { token: "right" });
    await expect(w.done).rejects.toMatchObject({ name: "PullWorkerError", status: 401 });
  });

  it("stop(): no more leases; a handler that finishes within the grace completes, one that does not is released", async () => {
    const started: string[] = [];
    const aborted: string[] = [];
    const w = await setup({
      concurrency: 2,
      grace_s: 0.4,
      handlers: {
        quick: async (task) => {
          started.push(task.id);
          await sleep(200);
          return "finished in the grace";
        },
        stuck: async (task, { signal }) => {
          started.push(task.id);
          await new Promise((r) => signal.addEventListener("abort", r));
          aborted.push((signal.reason as Error).name);
          return "too late";
        },
      },
    });
    const quick = fake.add("quick");
    const stuck = fake.add("stuck");
    await until(() => started.length === 2);
    const t0 = Date.now();
    await w.stop();
    const stopMs = Date.now() - t0;
    const leasesAfter = fake.calls.filter((c: { op: string; at: number }) => c.op === "lease" && c.at > t0 + 50);
    expect(fake.tasks.get(quick).status).toBe("completed");
    expect(fake.tasks.get(stuck)).toMatchObject({ status: "queued", attempts: 0, releases: 1 });
    expect(aborted).toEqual(["WorkerStopping"]);
    expect(ops(stuck).filter((o: string) => /^(complete|fail)/.test(o))).toEqual([]);
    expect(stopMs).toBeGreaterThanOrEqual(350);
    expect(stopMs).toBeLessThan(3000);
    expect(leasesAfter).toEqual([]);
    await w.done;
  });

  it("stop(): tasks a lease call in flight brings back are released unstarted", async () => {
    let ran = 0;
    const w = await setup({ wait_s: 2, handlers: { echo: () => void ran++ } });
    await until(() => fake.calls.some((c: { op: string }) => c.op === "lease"));
    const stopped = w.stop(); // the long-poll is still waiting
    const id = fake.add("echo");
    await stopped;
    expect(ran).toBe(0);
    expect(fake.tasks.get(id)).toMatchObject({ status: "queued", attempts: 0, releases: 1 });
  });

  it("stopOnSignals: SIGTERM starts the graceful stop, a second one ends the grace at once (task released); listeners removed after", async () => {
    const started: string[] = [];
    const before = process.listenerCount("SIGTERM");
    const w = await setup({
      stopOnSignals: true,
      grace_s: 30,
      handlers: {
        stuck: async (task, { signal }) => {
          started.push(task.id);
          await new Promise((r) => signal.addEventListener("abort", r));
        },
      },
    });
    expect(process.listenerCount("SIGTERM")).toBe(before + 1);
    const id = fake.add("stuck");
    await until(() => started.length === 1);
    const t0 = Date.now();
    process.emit("SIGTERM"); // the listeners only: no signal is sent to the test process
    await sleep(100);
    expect(w.running).toBe(1); // in its grace
    process.emit("SIGTERM");
    await w.done;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(fake.tasks.get(id)).toMatchObject({ status: "queued", attempts: 0, releases: 1 });
    expect(process.listenerCount("SIGTERM")).toBe(before);
  });

  it("an aborted options.signal stops the worker like stop()", async () => {
    const ac = new AbortController();
    const w = await setup({ signal: ac.signal, handlers: { echo: () => 1 } });
    ac.abort();
    await w.done;
    expect(w.running).toBe(0);
  });

  it("refuses a type without a handler", () => {
    expect(() => runPullWorker({ url: "http://127.0.0.1:1", types: ["nope"], handlers: {} })).toThrow(/no handler for type 'nope'/);
  });
});
