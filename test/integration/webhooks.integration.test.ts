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
import { signatureHeader } from "../../src/webhooks/signature";
import { deliver, drain } from "../helpers/dispatch";
import { recordingQueue } from "../helpers/recording-queue";
import { db, getTask, settleOtherTasks, sql } from "../helpers/tasks";
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

const webhookEntries = async (id: string) => (await getTask(id)).events.filter((e) => e[4] === "webhook").map((e) => e[5]);

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
    expect(JSON.parse(body)).toMatchObject({ id: task.id, status: "completed", result: { success: true } });
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
