import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import example from "../../examples/service-client/src/index";
import { serviceErrorCode, type SeedCoreBinding } from "../../src/service-client";
import { drain } from "../helpers/dispatch";
import { settleOtherTasks } from "../helpers/tasks";

/** The entrypoint as another Worker sees it: a real RPC stub (ctx.exports), so errors cross RPC too. */
const service = exports.SeedCoreService as unknown as SeedCoreBinding;

beforeEach(settleOtherTasks);

/** Runs the dispatcher once a task exists, the way the queue would after a submit. */
async function dispatchWhenQueued(): Promise<void> {
  await vi.waitUntil(async () => (await env.DB.prepare("SELECT 1 FROM tasks WHERE status = 'queued' LIMIT 1").first()) !== null, { timeout: 5000 });
  await new Promise((r) => setTimeout(r, 100)); // let the example reach its wait
  await drain();
}

async function codeOf(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
    return null;
  } catch (err) {
    return serviceErrorCode(err);
  }
}

describe("the example Worker (examples/service-client) over the service binding", () => {
  it("submits, waits and reads a task", async () => {
    const answer = example.fetch(new Request("http://example/echo", { method: "POST", body: JSON.stringify({ hello: "binding" }) }), { SEEDCORE: service });
    await dispatchWhenQueued();
    const res = await answer;
    expect(res.status).toBe(200);
    const body = await res.json<{ status: string; result: { echo: unknown } }>();
    expect(body.status).toBe("completed");
    // The task's result is what test_task's code returned.
    expect(body.result.echo).toEqual({ hello: "binding" });
  });

  it("turns the service's error codes into its own answers", async () => {
    const res = await example.fetch(new Request("http://example/echo", { method: "POST", body: "[1]" }), { SEEDCORE: service });
    expect(res.status).toBe(400);
    expect((await res.json<{ error: string }>()).error).toMatch(/^validation_failed: params/);
  });
});

describe("SeedCoreService", () => {
  it("has the HTTP API's validation and error codes", async () => {
    expect(await codeOf(service.submit({ type: "Bad Type!" }))).toBe("validation_failed");
    expect(await codeOf(service.submit({ type: "ping", surprise: 1 }))).toBe("validation_failed");
    expect(await codeOf(service.submit({ type: "ping", params: { blob: "x".repeat(300 * 1024) } }))).toBe("payload_too_large");
    expect(await codeOf(service.get("00000000-0000-4000-8000-000000000000"))).toBe("not_found");
    expect(await codeOf(service.get("zz"))).toBe("bad_request");
    expect(await codeOf(service.wait("00000000-0000-4000-8000-000000000000", 61))).toBe("validation_failed");
    expect(await codeOf(service.list({ limit: 500 }))).toBe("validation_failed");
    expect(await codeOf(service.submitBatch([]))).toBe("validation_failed");
  });

  it("submits a batch with refs, lists, cancels and runs", async () => {
    const [parent, child] = await service.submitBatch([
      { type: "ping", ref: "p", run_immediately: false },
      { type: "ping", depends_on: ["p"] },
    ]);
    expect(child).toMatchObject({ status: "created", waiting_on: 1, depends_on: [parent!.id] });
    const page = await service.list({ status: "created", limit: 10 });
    expect(page.items.map((t) => t.id)).toEqual(expect.arrayContaining([parent!.id, child!.id]));
    expect(await codeOf(service.run(child!.id))).toBe("invalid_state");
    expect((await service.run(parent!.id)).status).toBe("queued");
    const idempotent = await service.submit({ type: "ping" }, { idempotencyKey: `svc-${crypto.randomUUID()}` });
    expect((await service.cancel(idempotent.id)).status).toBe("cancelled");
    expect(await codeOf(service.cancel(idempotent.id))).toBe("invalid_state");
    const waited = await service.wait(idempotent.id, 5);
    expect(waited).toMatchObject({ finished: true, task: { status: "cancelled" } });
  });
});
