import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { postJson } from "../helpers/worker";

const rowsWithKey = async (key: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM tasks WHERE idempotency_key = ?").bind(key).first<{ n: number }>())?.n;

describe("idempotency under concurrency", () => {
  it("20 parallel POST /tasks with one key and one body make exactly one task", async () => {
    const key = `race-${crypto.randomUUID()}`;
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => postJson("/tasks", { type: "test_task", params: { n: 1 }, run_immediately: false }, { "Idempotency-Key": key })),
    );
    const statuses = responses.map((r) => r.status);
    const bodies = await Promise.all(responses.map((r) => r.json<{ id: string }>()));

    expect(statuses.every((s) => s === 200 || s === 201)).toBe(true);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
    expect(await rowsWithKey(key)).toBe(1);
    const events = await env.DB.prepare("SELECT count(*) AS n FROM task_timeline WHERE task_id = ?").bind(bodies[0]!.id).first<{ n: number }>();
    expect(events?.n).toBe(1);
  });
});

describe("the same key with a different body", () => {
  it("is a 409 idempotency_conflict, whichever way the key is given, and writes nothing", async () => {
    const key = `k-${crypto.randomUUID()}`;
    expect((await postJson("/tasks", { type: "test_task", params: { a: 1, b: 2 } }, { "Idempotency-Key": key })).status).toBe(201);
    // Key order inside params does not make a different body.
    expect((await postJson("/tasks", { type: "test_task", params: { b: 2, a: 1 }, idempotency_key: key })).status).toBe(200);
    const other = await postJson("/tasks", { type: "test_task", params: { a: 1, b: 3 } }, { "Idempotency-Key": key });
    expect(other.status).toBe(409);
    expect(await other.json()).toMatchObject({ error: { code: "idempotency_conflict", details: { idempotency_key: key } } });
    expect(await rowsWithKey(key)).toBe(1);
  });

  it("refuses a whole batch when one item conflicts, inside the batch or with a stored task", async () => {
    const key = `b-${crypto.randomUUID()}`;
    const fresh = `f-${crypto.randomUUID()}`;
    const inside = await postJson("/tasks/batch", { tasks: [{ type: "ping", idempotency_key: key }, { type: "ping", description: "x", idempotency_key: key }] });
    expect(inside.status).toBe(409);
    expect(await rowsWithKey(key)).toBe(0);
    expect((await postJson("/tasks", { type: "ping", idempotency_key: key })).status).toBe(201);
    const stored = await postJson("/tasks/batch", { tasks: [{ type: "ping", idempotency_key: fresh }, { type: "test_task", idempotency_key: key }] });
    expect(stored.status).toBe(409);
    expect(await stored.json()).toMatchObject({ error: { code: "idempotency_conflict", details: { index: 1 } } });
    expect(await rowsWithKey(fresh)).toBe(0);
  });
});
