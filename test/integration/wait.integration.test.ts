import { beforeEach, describe, expect, it } from "vitest";
import type { TaskJson } from "../../src/store/task-json";
import { drain } from "../helpers/dispatch";
import { settleOtherTasks } from "../helpers/tasks";
import { env } from "cloudflare:workers";
import { openDb } from "../../src/store/db";
import { watchTask } from "../../src/store/find-task";
import { api, postJson } from "../helpers/worker";

beforeEach(settleOtherTasks);

async function created(body: unknown): Promise<TaskJson> {
  const res = await postJson("/tasks", body);
  expect(res.status).toBe(201);
  return res.json<TaskJson>();
}

/** The test D1, noting when each batch that wrote an outcome came back (committed). */
function timedD1(commits: number[]): D1Database {
  return new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const results = await target.batch(statements);
          commits.push(Date.now());
          return results;
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("?wait=S", () => {
  it("GET /tasks/{id}?wait answers within 100 ms of the task completing", async () => {
    const task = await created({ type: "ping" });
    const waiting = api(`/tasks/${task.id}?wait=10`).then(async (res) => ({ res, at: Date.now(), body: await res.json<TaskJson>() }));
    // Let the waiter register before the task runs, so the answer must come from the notification.
    await new Promise((r) => setTimeout(r, 200));
    const commits: number[] = [];
    await drain({ db: openDb(timedD1(commits)) });
    const { res, at, body } = await waiting;
    expect(res.headers.get("SeedCore-Finished")).toBe("true");
    expect(body.status).toBe("completed");
    // The batches are the claim, then the outcome write (which made the task terminal).
    expect(commits.length).toBeGreaterThanOrEqual(2);
    expect(at - commits[1]!).toBeLessThan(100);
  });

  it("POST /tasks?wait answers with the finished task (and 201)", async () => {
    const pending = postJson("/tasks?wait=10", { type: "ping" });
    await new Promise((r) => setTimeout(r, 200));
    await drain();
    const res = await pending;
    expect(res.status).toBe(201);
    expect(res.headers.get("SeedCore-Finished")).toBe("true");
    expect((await res.json<TaskJson>()).status).toBe("completed");
  });

  it("ends with the current state and SeedCore-Finished: false when the wait runs out", async () => {
    const task = await created({ type: "ping", run_immediately: false });
    const started = Date.now();
    const res = await api(`/tasks/${task.id}?wait=1`);
    const took = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.headers.get("SeedCore-Finished")).toBe("false");
    expect((await res.json<TaskJson>()).status).toBe("created");
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(1500);
  });

  it("answers at once for a task that is already terminal, and refuses waits over 60 s", async () => {
    const task = await created({ type: "ping" });
    await drain();
    const started = Date.now();
    const res = await api(`/tasks/${task.id}?wait=30`);
    expect(res.headers.get("SeedCore-Finished")).toBe("true");
    expect(Date.now() - started).toBeLessThan(500);
    expect((await api(`/tasks/${task.id}?wait=61`)).status).toBe(400);
    expect((await api(`/tasks/${task.id}?wait=soon`)).status).toBe(400);
    expect((await api(`/tasks/${task.id}`)).headers.get("SeedCore-Finished")).toBeNull();
  });

  it("a cancel wakes the waiters too", async () => {
    const task = await created({ type: "ping", run_immediately: false });
    const waiting = api(`/tasks/${task.id}?wait=10`).then((res) => ({ res, at: Date.now() }));
    await new Promise((r) => setTimeout(r, 200));
    const cancelledAt = Date.now();
    expect((await postJson(`/tasks/${task.id}/cancel`, {})).status).toBe(200);
    const { res, at } = await waiting;
    expect(res.headers.get("SeedCore-Finished")).toBe("true");
    expect(at - cancelledAt).toBeLessThan(500);
  });
});

describe("what a wait costs", () => {
  it("marking a task watched writes its row once: updated_at is set, so the touch trigger does not write it again", async () => {
    const a = await created({ type: "ping", run_immediately: false });
    const b = await created({ type: "ping", run_immediately: false });
    // D1's own count of rows written, for the statement shape with and without updated_at.
    const bare = await env.DB.prepare("UPDATE tasks SET watched = 1 WHERE id = ?").bind(a.id).run();
    const withClock = await env.DB.prepare("UPDATE tasks SET watched = 1, updated_at = ? WHERE id = ?").bind(Date.now(), b.id).run();
    expect(bare.meta.rows_written).toBe(2);
    expect(withClock.meta.rows_written).toBe(1);

    const task = await created({ type: "ping", run_immediately: false });
    const row = await watchTask(openDb(env.DB), task.id, 1_234);
    expect(row).toMatchObject({ watched: 1, updatedAt: 1_234 });
    // A task already watched is not written again: the route skips the write.
    const again = await api(`/tasks/${task.id}?wait=1`);
    expect(again.headers.get("SeedCore-Finished")).toBe("false");
    const after = await env.DB.prepare("SELECT updated_at FROM tasks WHERE id = ?").bind(task.id).first<{ updated_at: number }>();
    expect(after?.updated_at).toBe(1_234);
  });
});
