import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { postJson } from "../helpers/worker";

describe("idempotency under concurrency", () => {
  it("20 parallel POST /tasks with one key make exactly one task", async () => {
    const key = `race-${crypto.randomUUID()}`;
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        postJson("/tasks", { type: "test_task", params: { i }, run_immediately: false }, { "Idempotency-Key": key }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    const bodies = await Promise.all(responses.map((r) => r.json<{ id: string }>()));

    expect(statuses.every((s) => s === 200 || s === 201)).toBe(true);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
    const row = await env.DB.prepare("SELECT count(*) AS n FROM tasks WHERE idempotency_key = ?").bind(key).first<{ n: number }>();
    expect(row?.n).toBe(1);
    const events = await env.DB.prepare("SELECT count(*) AS n FROM task_events WHERE task_id = ?").bind(bodies[0]!.id).first<{ n: number }>();
    expect(events?.n).toBe(1);
  });
});
