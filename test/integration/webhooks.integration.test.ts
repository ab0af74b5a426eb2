import { createMessageBatch, getQueueResult, createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { requireConfig, type Config } from "../../src/config";
import { followUpDeps } from "../../src/follow-ups";
import { runMaintenancePass } from "../../src/maintenance/maintenance-pass";
import { readMetricsSnapshot } from "../../src/store/metrics-queries";
import type { TaskJson } from "../../src/store/task-json";
import { callbackUrlProblem } from "../../src/webhooks/callback-url";
import { deliverWebhooks } from "../../src/webhooks/deliver";
import type { WebhookMessage } from "../../src/webhooks/message";
import { OUTBOUND_CONNECTIONS } from "../../src/lib/platform-limits";
import { WEBHOOK_LOST_AFTER_MS } from "../../src/store/webhooks";
import { signatureHeader } from "../../src/webhooks/signature";
import { deliver, drain } from "../helpers/dispatch";
import { recordingQueue } from "../helpers/recording-queue";
import { db, getTask, settleOtherTasks, sql, timelineOfTask } from "../helpers/tasks";
import { fetchWithEnv, postJson } from "../helpers/worker";

const config = requireConfig(env);
const HOOK = "https://hooks.example.com/seedcore";

beforeEach(settleOtherTasks);

interface Received {
  url: string;
  body: string;
  headers: Headers;
}

/** A receiver that answers each request with the next status, recording what it got. */
function receiver(...statuses: number[]) {
  const received: Received[] = [];
  const fetcher = (async (input: RequestInfo | URL, init?: RequestInit) => {
    received.push({ url: String(input), body: String(init?.body), headers: new Headers(init?.headers) });
    return new Response("ok", { status: statuses.shift() ?? 200 });
  }) as typeof fetch;
  return { received, fetcher };
}

let seq = 0;
function webhookBatch(taskId: string, attempts: number, queue = "seedcore-webhooks") {
  return createMessageBatch(queue, [{ id: `w-${++seq}`, timestamp: new Date(), attempts, body: { kind: "webhook", task_id: taskId } }]);
}

async function deliverOnce(taskId: string, attempts: number, fetcher: typeof fetch, overrides: Partial<Config> = {}) {
  const batch = webhookBatch(taskId, attempts);
  const retry = vi.spyOn(batch.messages[0]!, "retry");
  const ack = vi.spyOn(batch.messages[0]!, "ack");
  await deliverWebhooks(batch, { db: db(), config: { ...config, ...overrides }, fetch: fetcher, now: Date.now });
  return { retry, ack };
}

const webhookEntries = async (id: string) => (await timelineOfTask(id)).filter((e) => e[4] === "webhook").map((e) => e[5]);

async function completedTaskWithCallback(): Promise<TaskJson> {
  const res = await postJson("/tasks", { type: "ping", callback_url: HOOK });
  expect(res.status).toBe(201);
  const task = await res.json<TaskJson>();
  await drain();
  return task;
}

describe("completion webhooks", () => {
  it("are flagged by the terminal write and queued right after it", async () => {
    const task = await completedTaskWithCallback();
    expect(await getTask(task.id)).toMatchObject({ status: "completed", webhookState: "sent", callbackUrl: HOOK });
  });

  it("POST the task JSON signed with WEBHOOK_SECRET, retry after a 500 with backoff, and log every attempt", async () => {
    const task = await completedTaskWithCallback();
    const hook = receiver(500, 200);

    const first = await deliverOnce(task.id, 1, hook.fetcher);
    expect(first.retry).toHaveBeenCalledWith({ delaySeconds: config.WEBHOOK_RETRY_BASE_S });
    expect(await webhookEntries(task.id)).toEqual([`webhook 500, retry 2 in ${config.WEBHOOK_RETRY_BASE_S}s`]);
    const second = await deliverOnce(task.id, 2, hook.fetcher);
    expect(second.ack).toHaveBeenCalled();
    expect(await webhookEntries(task.id)).toEqual([`webhook 500, retry 2 in ${config.WEBHOOK_RETRY_BASE_S}s`, "webhook 200"]);
    expect((await getTask(task.id)).webhookState).toBe("delivered");

    const { url, body, headers } = hook.received[1]!;
    expect(url).toBe(HOOK);
    expect(JSON.parse(body)).toMatchObject({ id: task.id, status: "completed", result: { pong: true }, execution: { path: "fast" } });
    const signature = headers.get("seedcore-signature")!;
    const t = Number(/^t=(\d+),v1=[0-9a-f]{64}$/.exec(signature)?.[1]);
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(60);
    expect(signature).toBe(await signatureHeader("test-webhook-secret", body, t));
    expect(headers.get("seedcore-delivery-attempt")).toBe("2");
  });

  it("a receiver that hangs costs one timed-out attempt, never the task", async () => {
    const task = await completedTaskWithCallback();
    const hanging = ((_: RequestInfo | URL, init?: RequestInit) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener("abort", () => reject(new Error("the operation timed out"))))) as typeof fetch;
    const { retry } = await deliverOnce(task.id, 1, hanging, { WEBHOOK_TIMEOUT_S: 0.05 });
    expect(retry).toHaveBeenCalled();
    expect((await webhookEntries(task.id))[0]).toMatch(/^webhook failed: .*timed out.*, retry 2 in \d+s$/);
    expect((await getTask(task.id)).status).toBe("completed");
  });

  it("after the last try the DLQ records the failure in the timeline and the metrics", async () => {
    const task = await completedTaskWithCallback();
    const last = config.WEBHOOK_MAX_RETRIES + 1;
    const { retry } = await deliverOnce(task.id, last, receiver(503).fetcher);
    expect(retry).toHaveBeenCalled(); // the queue moves it to the DLQ: its retries are used up
    const before = (await readMetricsSnapshot(db(), 0)).counters["webhooks_dead_lettered"] ?? 0;
    const batch = webhookBatch(task.id, 1, "seedcore-webhooks-dlq");
    const ctx = createExecutionContext();
    await (await import("../../src/index")).default.queue!(batch as MessageBatch<unknown>, env, ctx);
    expect((await getQueueResult(batch, ctx)).ackAll).toBe(true);
    expect(await webhookEntries(task.id)).toEqual(["webhook 503, no tries left", `webhook failed after ${last} tries (dead-lettered)`]);
    expect((await getTask(task.id)).webhookState).toBe("failed");
    expect((await readMetricsSnapshot(db(), 0)).counters["webhooks_dead_lettered"]).toBe(before + 1);
  });

  it("a task run again before its webhook went out is not posted (its next end sends its own)", async () => {
    const task = await completedTaskWithCallback();
    await sql("UPDATE tasks SET status = 'queued' WHERE id = ?", task.id);
    const hook = receiver(200);
    const { ack } = await deliverOnce(task.id, 1, hook.fetcher);
    expect(ack).toHaveBeenCalled();
    expect(hook.received).toEqual([]);
  });

  it("the maintenance alarm sends again a webhook whose send was lost", async () => {
    const task = await completedTaskWithCallback();
    await sql("UPDATE tasks SET webhook_state = 'pending', updated_at = ? WHERE id = ?", Date.now() - 60_000, task.id);
    const { queue } = recordingQueue();
    const report = await runMaintenancePass({ db: db(), queue, config, now: Date.now, statementsUsed: () => 0, followUp: followUpDeps(env, db()) });
    expect(report.webhooks_resent).toBe(1);
    expect((await getTask(task.id)).webhookState).toBe("sent");
  });
});

/** Finished tasks with these callback URLs (one batch, one drain); their webhooks are taken and queued to the sink. */
async function completedTasksWithCallbacks(urls: string[]): Promise<string[]> {
  const res = await postJson("/tasks/batch", { tasks: urls.map((callback_url) => ({ type: "ping", callback_url })) });
  expect(res.status).toBe(201);
  const ids = (await res.json<{ items: TaskJson[] }>()).items.map((t) => t.id);
  await drain();
  return ids;
}

function webhookBatchOf(ids: string[]) {
  return createMessageBatch("seedcore-webhooks", ids.map((task_id) => ({ id: `w-${++seq}`, timestamp: new Date(), attempts: 1, body: { kind: "webhook", task_id } })));
}

/**
 * Cloudflare's fetch as a Worker sees it: at most OUTBOUND_CONNECTIONS requests on the wire, the
 * rest wait for one to end while their abort signals already run; each answers 200 after `ms`.
 * Counts the peak of requests the caller has in flight.
 */
function platformFetch(ms: number) {
  const stats = { inFlight: 0, peak: 0, onWire: 0 };
  const freed: (() => void)[] = [];
  const abortable = (signal: AbortSignal | null | undefined, wait: (done: () => void) => void) =>
    new Promise<void>((resolve, reject) => {
      signal?.throwIfAborted();
      signal?.addEventListener("abort", () => reject(signal.reason));
      wait(resolve);
    });
  const fetcher = (async (_: RequestInfo | URL, init?: RequestInit) => {
    stats.peak = Math.max(stats.peak, ++stats.inFlight);
    try {
      while (stats.onWire >= OUTBOUND_CONNECTIONS) await abortable(init?.signal, (done) => freed.push(done));
      stats.onWire++;
      try {
        await abortable(init?.signal, (done) => setTimeout(done, ms));
      } finally {
        stats.onWire--;
        for (const wake of freed.splice(0)) wake();
      }
      return new Response("ok");
    } finally {
      stats.inFlight--;
    }
  }) as typeof fetch;
  return { stats, fetcher };
}

describe("webhook delivery under Cloudflare's outgoing-connection limit", () => {
  it("never has more than OUTBOUND_CONNECTIONS posts in flight, and times each from when it is sent", async () => {
    // 20 posts of 300 ms each take four waves of six; a 0.8 s timeout started before the wait would end the third.
    const ids = await completedTasksWithCallbacks(Array.from({ length: 20 }, (_, i) => `https://h${i % 10}.example.com/hook`));
    const platform = platformFetch(300);
    const batch = webhookBatchOf(ids);
    const retries = batch.messages.map((m) => vi.spyOn(m, "retry"));
    await deliverWebhooks(batch, { db: db(), config: { ...config, WEBHOOK_TIMEOUT_S: 0.8 }, fetch: platform.fetcher, now: Date.now });
    expect(platform.stats.peak).toBe(OUTBOUND_CONNECTIONS);
    for (const retry of retries) expect(retry).not.toHaveBeenCalled();
    for (const id of ids) expect(await webhookEntries(id)).toEqual(["webhook 200"]);
  });

  it("a slow receiver does not delay a fast receiver's deliveries in the same batch", async () => {
    const slowUrl = "https://slow.example.com/hook";
    const ids = await completedTasksWithCallbacks([...Array<string>(12).fill(slowUrl), "https://fast.example.com/a", "https://fast.example.com/b"]);
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const fetcher = (async (input: RequestInfo | URL) => {
      if (String(input) === slowUrl) await gate;
      return new Response("ok");
    }) as typeof fetch;
    const batch = webhookBatchOf(ids);
    const acks = batch.messages.map((m) => vi.spyOn(m, "ack"));
    const delivery = deliverWebhooks(batch, { db: db(), config, fetch: fetcher, now: Date.now });
    try {
      await vi.waitFor(() => expect(acks.slice(12).every((a) => a.mock.calls.length === 1)).toBe(true), { timeout: 5_000 });
      for (const id of ids.slice(12)) expect((await getTask(id)).webhookState).toBe("delivered");
      expect(acks.slice(0, 12).some((a) => a.mock.calls.length > 0)).toBe(false);
      expect((await getTask(ids[0]!)).webhookState).toBe("sent");
    } finally {
      release();
      await delivery;
    }
    for (const ack of acks) expect(ack).toHaveBeenCalledOnce();
    for (const id of ids) expect((await getTask(id)).webhookState).toBe("delivered");
  });
});

/** Runs the maintenance alarm's pass at `now`; returns the task ids whose webhooks it queued again. */
async function resentAt(now: number): Promise<string[]> {
  const resent: string[] = [];
  const webhooks = {
    sendBatch: async (msgs: Iterable<MessageSendRequest<WebhookMessage>>) => void resent.push(...[...msgs].map((m) => m.body.task_id)),
  } as unknown as Queue<WebhookMessage>;
  const { queue } = recordingQueue();
  const clock = () => now;
  await runMaintenancePass({ db: db(), queue, config, now: clock, statementsUsed: () => 0, followUp: { ...followUpDeps(env, db()), webhooks, now: clock } });
  return resent;
}

describe("lost webhooks", () => {
  it("a sent webhook whose queue message was lost (a crash) goes out again within a minute of when it was due", async () => {
    const task = await completedTaskWithCallback(); // its job went to a queue nobody consumes
    const due = (await getTask(task.id)).webhookDueAt!;
    expect(due).toBeGreaterThan(Date.now() - 60_000);
    expect(await resentAt(due + WEBHOOK_LOST_AFTER_MS)).not.toContain(task.id);
    expect(await resentAt(due + WEBHOOK_LOST_AFTER_MS + 1)).toContain(task.id);
    expect((await getTask(task.id)).webhookDueAt).toBe(due + WEBHOOK_LOST_AFTER_MS + 1);
    // The alarm ticks every REAPER_INTERVAL_S: the resend comes at most a minute after the try was due.
    expect(WEBHOOK_LOST_AFTER_MS + config.REAPER_INTERVAL_S * 1000).toBeLessThanOrEqual(60_000);
  });

  it("one waiting out a backoff retry (up to WEBHOOK_RETRY_MAX_S) is not sent again early", async () => {
    const task = await completedTaskWithCallback();
    const before = Date.now();
    const { retry } = await deliverOnce(task.id, 4, receiver(500).fetcher, { WEBHOOK_RETRY_BASE_S: 100 });
    expect(retry).toHaveBeenCalledWith({ delaySeconds: 600 });
    const due = (await getTask(task.id)).webhookDueAt!;
    expect(due - before).toBeGreaterThanOrEqual(600_000);
    expect(await resentAt(before + WEBHOOK_LOST_AFTER_MS + 1)).not.toContain(task.id);
    expect(await resentAt(due + WEBHOOK_LOST_AFTER_MS)).not.toContain(task.id);
    expect(await resentAt(due + WEBHOOK_LOST_AFTER_MS + 1)).toContain(task.id);
  });

  it("a second job for a webhook already delivered (the alarm re-sent a slow one) is not posted again", async () => {
    const task = await completedTaskWithCallback();
    await deliverOnce(task.id, 1, receiver(200).fetcher);
    const hook = receiver(200);
    const { ack } = await deliverOnce(task.id, 1, hook.fetcher);
    expect(ack).toHaveBeenCalled();
    expect(hook.received).toEqual([]);
    expect(await webhookEntries(task.id)).toEqual(["webhook 200"]);
  });
});

describe("callback_url", () => {
  it("is refused unless https to a public host when deployed", () => {
    for (const url of [
      "http://hooks.example.com/x",
      "https://127.0.0.1/x",
      "https://localhost:8443/x",
      "https://10.1.2.3/x",
      "https://172.20.0.1/x",
      "https://192.168.1.10/x",
      "https://169.254.169.254/latest/meta-data",
      "https://100.64.0.1/x",
      "https://[::1]/x",
      "https://[fe80::1]/x",
      "https://[fd00::1]/x",
      "https://[::ffff:10.0.0.1]/x",
      "https://metadata.google.internal/x",
      "https://printer.local/x",
      "https://2130706433/x",
      "https://user:pw@hooks.example.com/x",
      "ftp://hooks.example.com/x",
      "not a url",
    ]) {
      expect(callbackUrlProblem(url, false), url).not.toBeNull();
    }
    expect(callbackUrlProblem(HOOK, false)).toBeNull();
    expect(callbackUrlProblem(`https://hooks.example.com/${"x".repeat(2100)}`, false)).toMatch(/2048 bytes/);
  });

  it("may be http(s) to loopback in local development, and still never private", () => {
    expect(callbackUrlProblem("http://127.0.0.1:8099/hook", true)).toBeNull();
    expect(callbackUrlProblem("http://localhost:8099/hook", true)).toBeNull();
    expect(callbackUrlProblem("http://10.0.0.1/hook", true)).not.toBeNull();
    expect(callbackUrlProblem("https://169.254.169.254/", true)).not.toBeNull();
  });

  it("is refused at submit for IPv6 spellings of loopback, private and IPv4-embedding addresses: 400 naming the field", async () => {
    for (const host of ["[::127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[fec0::1]", "[ff02::1]"]) {
      const res = await postJson("/tasks", { type: "ping", callback_url: `https://${host}/x` });
      expect(res.status, host).toBe(400);
      expect((await res.json<{ error: { message: string } }>()).error.message, host).toMatch(/^callback_url: host \S+ is a /);
    }
    expect((await postJson("/tasks", { type: "ping", callback_url: "https://[2606:4700::1111]/x" })).status).toBe(201);
  });

  it("is checked at submit: 400 naming the field, by the configuration switch", async () => {
    const deployed = await postJson("/tasks", { type: "ping", callback_url: "http://127.0.0.1:9/x" });
    expect(deployed.status).toBe(400);
    expect((await deployed.json<{ error: { message: string } }>()).error.message).toMatch(/^callback_url: must be https/);
    const batch = await postJson("/tasks/batch", { tasks: [{ type: "ping" }, { type: "ping", callback_url: "https://10.0.0.1/x" }] });
    expect((await batch.json<{ error: { message: string } }>()).error.message).toMatch(/^tasks\.1\.callback_url: host 10\.0\.0\.1/);
    const local = (headers: Record<string, string> = {}) =>
      new Request("http://localhost/tasks", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ type: "ping", callback_url: "http://127.0.0.1:9/x" }) });
    expect((await fetchWithEnv(local(), { WEBHOOK_ALLOW_LOOPBACK: "true" })).status).toBe(201);
    const noSecret = await fetchWithEnv(local(), { WEBHOOK_ALLOW_LOOPBACK: "true", WEBHOOK_SECRET: undefined });
    expect(noSecret.status).toBe(400);
    expect((await noSecret.json<{ error: { message: string } }>()).error.message).toMatch(/WEBHOOK_SECRET/);
  });
});

describe("the webhook queue consumer through the Worker", () => {
  it("drops a malformed job with an ack", async () => {
    const batch = createMessageBatch("seedcore-webhooks", [{ id: "bad-1", timestamp: new Date(), attempts: 1, body: { kind: "nope" } }]);
    const ctx = createExecutionContext();
    await (await import("../../src/index")).default.queue!(batch as MessageBatch<unknown>, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["bad-1"]);
  });

  it("leaves task dispatch alone: wake-ups still drain", async () => {
    const res = await postJson("/tasks", { type: "ping", callback_url: HOOK });
    const task = await res.json<TaskJson>();
    await deliver();
    expect((await getTask(task.id)).status).toBe("completed");
  });
});
