import { describe, expect, it } from "vitest";
import { deliver } from "../helpers/dispatch";
import { api, countRows, postJson } from "../helpers/worker";

interface TaskBody {
  id: string;
  status: string;
  attempts: number;
  result: { success: boolean; result: Record<string, unknown> } | null;
}
interface EventBody {
  items: { from_status: string | null; to_status: string; actor: string }[];
}

async function submit(body: unknown): Promise<TaskBody> {
  const res = await postJson("/tasks", body);
  expect(res.status).toBe(201);
  return res.json<TaskBody>();
}

async function runToEnd(id: string): Promise<TaskBody> {
  const { result } = await deliver();
  expect(result.explicitAcks).toHaveLength(1);
  const res = await api(`/tasks/${id}`);
  expect(res.status).toBe(200);
  return res.json<TaskBody>();
}

describe("POST /tasks → queue → coordinator → completed", () => {
  it("answers the UTC time", async () => {
    const before = Date.now();
    const task = await submit({ type: "general_query", description: "what time is it in UTC?" });
    expect(task.status).toBe("queued");
    const done = await runToEnd(task.id);
    expect(done.status).toBe("completed");
    expect(done.attempts).toBe(1);
    const text = JSON.stringify(done.result);
    const iso = text.match(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/);
    expect(iso).not.toBeNull();
    const t = Date.parse(iso![0]);
    expect(t).toBeGreaterThanOrEqual(before - 1000);
    expect(t).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it("computes 12*(3+4) = 84 and records the events", async () => {
    const task = await submit({ type: "general_query", description: "what is 12*(3+4)?" });
    const done = await runToEnd(task.id);
    expect(done.status).toBe("completed");
    expect(JSON.stringify(done.result)).toMatch(/"answer":84\b/);

    const events = await (await api(`/tasks/${task.id}/events`)).json<EventBody>();
    expect(events.items.map((e) => [e.from_status, e.to_status, e.actor])).toEqual([
      [null, "queued", "api"],
      ["queued", "running", "dispatcher"],
      ["running", "completed", "dispatcher"],
    ]);
  });

  it("echoes test_task params and finds the task by short id", async () => {
    const task = await submit({ type: "test_task", params: { hello: "edge" } });
    await runToEnd(task.id);
    const res = await api(`/tasks/${task.id.slice(0, 8)}`);
    expect(res.status).toBe(200);
    const found = await res.json<TaskBody>();
    expect(found.id).toBe(task.id);
    expect(found.status).toBe("completed");
    expect(JSON.stringify(found.result)).toContain('"hello":"edge"');
  });
});

describe("GET /tasks/{id}", () => {
  it("404s an unknown id with the error shape", async () => {
    const res = await api("/tasks/00000000-0000-4000-8000-000000000000");
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
  });

  it("409s an ambiguous prefix", async () => {
    // Two tasks whose ids share a prefix: insert them directly with chosen ids.
    const { env } = await import("cloudflare:workers");
    const now = Date.now();
    for (const id of ["abcdabcd-0000-4000-8000-000000000001", "abcdabcd-0000-4000-8000-000000000002"]) {
      await env.DB.prepare("INSERT INTO tasks (id, status, type, created_at, updated_at) VALUES (?, 'created', 'ping', ?, ?)")
        .bind(id, now, now)
        .run();
    }
    const res = await api("/tasks/abcdabcd");
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: "ambiguous_id", message: "Ambiguous task ID prefix" } });
  });

  it("400s a prefix holding SQL wildcards", async () => {
    const res = await api(`/tasks/${encodeURIComponent("abcd%")}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "bad_request" } });
  });
});

describe("bad input writes nothing", () => {
  it.each([
    ["malformed JSON", "{not json", "bad_request"],
    ["a missing type", JSON.stringify({ description: "no type" }), "validation_failed"],
    ["a negative drift_score", JSON.stringify({ type: "ping", drift_score: -1 }), "validation_failed"],
  ])("%s → 400 with the JSON error shape", async (_name, body, code) => {
    const before = await countRows();
    const res = await api("/tasks", { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(res.status).toBe(400);
    const json = await res.json<{ error: { code: string; message: string } }>();
    expect(json.error.code).toBe(code);
    expect(json.error.message.length).toBeGreaterThan(0);
    expect(await countRows()).toEqual(before);
  });
});

describe("health", () => {
  it("GET /health is alive", async () => {
    const res = await api("/health");
    expect(await res.json()).toMatchObject({ status: "healthy", service: "seedcore-edge" });
  });

  it("GET /readyz is ready on a migrated database with a healthy coordinator", async () => {
    const res = await api("/readyz");
    const body = await res.json<{ status: string; deps: Record<string, { ok: boolean }> }>();
    expect(body.deps.d1?.ok).toBe(true);
    expect(body.deps.coordinator?.ok).toBe(true);
    expect(res.status).toBe(200);
    expect(body.status).toBe("ready");
  });

  it("unknown routes are 404 JSON", async () => {
    const res = await api("/nope");
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
  });
});
