import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/tasks/define-task";
import { runTask, type RunControl, type TaskChannel, type TaskWork } from "../../src/tasks/run-task";

/** A channel that records what the run writes. */
function recordingChannel(held = true) {
  const writes = { progress: [] as string[], logs: [] as string[], steps: new Map<string, string>(), heartbeats: [] as (string | null)[] };
  const channel: TaskChannel = {
    heartbeat: async (d) => (writes.heartbeats.push(d), held),
    saveProgress: async (p) => (writes.progress.push(p), held),
    readSteps: async () => new Map(writes.steps),
    saveStep: async (n, j) => (writes.steps.set(n, j), held),
    appendLogs: async (l) => (writes.logs.push(l), held),
    submit: async () => ({ id: "child", created: true }),
    leaseToken: async () => "lease-token",
  };
  return { channel, writes };
}

const work = (over: Partial<TaskWork> = {}): TaskWork => ({
  id: "t1", type: "x", params: {}, description: null, domain: null, attempt: 1, token: "tok",
  deadline: Date.now() + 5000, parents: null, last_heartbeat: null, ...over,
});
const deps = (channel: TaskChannel, control: RunControl = {}) => ({
  env, channel, now: Date.now, sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)), resultMaxBytes: 1024, control,
  watchDeadline: (at: number, expire: () => void) => {
    const timer = setTimeout(expire, Math.max(0, at - Date.now()));
    return () => clearTimeout(timer);
  },
});

describe("runTask", () => {
  it("stores progress at most once a second, and always the last value", async () => {
    const def = defineTask({
      type: "rt_progress", params: z.object({}),
      async run(_p, ctx) {
        for (let i = 1; i <= 50; i++) {
          ctx.progress({ current: i, total: 50 });
          await ctx.sleep(2);
        }
        return "ok";
      },
    });
    const { channel, writes } = recordingChannel();
    expect(await runTask(def, work(), deps(channel))).toEqual({ ok: true, result: "ok" });
    expect(writes.progress.length).toBeLessThanOrEqual(2);
    expect(JSON.parse(writes.progress.at(-1) as string)).toMatchObject({ current: 50, total: 50 });
  });

  it("buffers log lines into one write, and caps each message", async () => {
    const def = defineTask({
      type: "rt_log", params: z.object({}),
      run(_p, ctx) {
        ctx.log.info("a");
        ctx.log.error("b".repeat(5000), { k: 1 });
      },
    });
    const { channel, writes } = recordingChannel();
    expect(await runTask(def, work(), deps(channel))).toEqual({ ok: true, result: null });
    expect(writes.logs).toHaveLength(1);
    const lines = JSON.parse(writes.logs[0] as string) as [number, number, string, string, unknown][];
    expect(lines.map((l) => [l[2], l[3].length, l[4]])).toEqual([["info", 1, null], ["error", 2050, { k: 1 }]]);
  });

  it("a step whose result cannot be stored (claim lost) aborts the run", async () => {
    const def = defineTask({ type: "rt_lost", params: z.object({}), run: (_p, ctx) => ctx.step("s", () => 1) });
    const { channel } = recordingChannel(false);
    expect(await runTask(def, work(), deps(channel))).toMatchObject({ ok: false, cancelled: true });
  });

  it("a result over RESULT_MAX_BYTES, or not JSON, fails the task for good", async () => {
    const { channel } = recordingChannel();
    const big = defineTask({ type: "rt_big", params: z.object({}), run: () => "x".repeat(2000) });
    expect(await runTask(big, work(), deps(channel))).toMatchObject({ ok: false, retriable: false, error: expect.stringMatching(/exceeds RESULT_MAX_BYTES/) });
    const bigint = defineTask({ type: "rt_bigint", params: z.object({}), run: () => ({ n: 10n }) });
    expect(await runTask(bigint, work(), deps(channel))).toMatchObject({ ok: false, retriable: false, error: expect.stringMatching(/not JSON/) });
  });

  it("an outside abort (cancel) ends the run at once", async () => {
    const def = defineTask({ type: "rt_cancel", params: z.object({}), run: async (_p, ctx) => (await ctx.sleep(60_000), "never") });
    const { channel } = recordingChannel();
    const control: RunControl = {};
    const running = runTask(def, work(), deps(channel, control));
    await Promise.resolve();
    control.stop?.(new Error("cancelled"));
    expect(await running).toMatchObject({ ok: false, cancelled: true });
  });

  it("an unknown type fails permanently", async () => {
    expect(await runTask(undefined, work({ type: "nope" }), deps(recordingChannel().channel))).toMatchObject({ ok: false, retriable: false, error: expect.stringMatching(/unknown task type 'nope'/) });
  });
});
