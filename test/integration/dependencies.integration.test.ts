import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { TaskJson } from "../../src/store/task-json";
import { drain } from "../helpers/dispatch";
import { expectWithinLimits, limitQueue } from "../helpers/limits";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { getTask, settleOtherTasks, timelineOfTask } from "../helpers/tasks";
import { api, postJson } from "../helpers/worker";
import { openDb } from "../../src/store/db";
import { echoParentsType } from "../helpers/task-types";

const ECHO_PARENTS = echoParentsType();

beforeEach(settleOtherTasks);

async function batch(tasks: unknown[]): Promise<TaskJson[]> {
  const res = await postJson("/tasks/batch", { tasks });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json<{ items: TaskJson[] }>()).items;
}

async function task(id: string): Promise<TaskJson> {
  return (await api(`/tasks/${id}`)).json<TaskJson>();
}

/** Drains until none of `ids` is left unfinished (each drain runs passes while dependents are released). */
async function runUntilFinished(ids: string[], maxDrains = 20): Promise<void> {
  for (let i = 0; i < maxDrains; i++) {
    await drain();
    const open = await env.DB.prepare(
      "SELECT count(*) AS n FROM json_each(?) AS j CROSS JOIN tasks AS t ON t.id = j.value WHERE t.status NOT IN ('completed', 'failed', 'cancelled')",
    )
      .bind(JSON.stringify(ids))
      .first<{ n: number }>();
    if (open?.n === 0) return;
  }
  throw new Error(`tasks still unfinished after ${maxDrains} drains`);
}

/** When the task entered a status (ms), from its timeline. */
async function enteredAt(id: string, status: string): Promise<number> {
  const entry = (await timelineOfTask(id)).find((e) => e[2] === status);
  if (!entry) throw new Error(`task ${id} never became ${status}`);
  return entry[0];
}

describe("depends_on", () => {
  it("runs a diamond (a → b, a → c, b + c → d) in order, d seeing b's and c's results", async () => {
    const [a, b, c, d] = await batch([
      { type: "test_task", ref: "a", params: { n: "a" } },
      { type: "test_task", ref: "b", params: { n: "b" }, depends_on: ["a"] },
      { type: "test_task", ref: "c", params: { n: "c" }, depends_on: ["a"] },
      { type: ECHO_PARENTS, params: { n: "d" }, depends_on: ["b", "c"] },
    ]);
    expect(a).toMatchObject({ status: "queued", waiting_on: 0, depends_on: [] });
    expect(b).toMatchObject({ status: "created", waiting_on: 1, depends_on: [a!.id], on_parent_failure: "fail" });
    expect(d).toMatchObject({ status: "created", waiting_on: 2, depends_on: [b!.id, c!.id] });

    await runUntilFinished([a!.id, b!.id, c!.id, d!.id]);
    for (const t of [a, b, c, d]) expect((await task(t!.id)).status).toBe("completed");
    expect(await enteredAt(b!.id, "running")).toBeGreaterThanOrEqual(await enteredAt(a!.id, "completed"));
    expect(await enteredAt(c!.id, "running")).toBeGreaterThanOrEqual(await enteredAt(a!.id, "completed"));
    const dStart = await enteredAt(d!.id, "running");
    expect(dStart).toBeGreaterThanOrEqual(await enteredAt(b!.id, "completed"));
    expect(dStart).toBeGreaterThanOrEqual(await enteredAt(c!.id, "completed"));

    // What d's code saw: its own params, and its parents (with their results) as ctx.task.parents.
    const seen = (await task(d!.id)).result as { echo: Record<string, unknown>; parents: Record<string, { status: string; result: unknown }> };
    expect(seen.echo).toEqual({ n: "d" });
    const parents = seen.parents;
    expect(Object.keys(parents).sort()).toEqual([b!.id, c!.id].sort());
    expect(parents[b!.id]).toMatchObject({ status: "completed", result: { echo: { n: "b" }, task_type: "test_task" } });
    expect(parents[c!.id]).toMatchObject({ status: "completed", result: { echo: { n: "c" }, task_type: "test_task" } });
    // The stored params stay as submitted.
    expect((await task(d!.id)).params).toEqual({ n: "d" });

    const children = await (await api(`/tasks/${a!.id}/dependents`)).json<{ items: { id: string }[] }>();
    expect(children.items.map((t) => t.id).sort()).toEqual([b!.id, c!.id].sort());
    const waited = (await timelineOfTask(d!.id)).map((e) => e[5]);
    expect(waited).toContain("parents finished");
  });

  it.each([
    ["fail", "failed"],
    ["cancel", "cancelled"],
  ])("a failed parent makes its on_parent_failure=%s dependents %s, with the reason, down the chain", async (policy, status) => {
    const [parent, child, grandchild] = await batch([
      { type: "flaky", ref: "p", params: { fail_times: 5 }, max_attempts: 1 },
      { type: "test_task", ref: "c", depends_on: ["p"], on_parent_failure: policy },
      { type: "test_task", depends_on: ["c"] },
    ]);
    await runUntilFinished([parent!.id, child!.id, grandchild!.id]);
    expect((await task(parent!.id)).status).toBe("failed");
    const c = await task(child!.id);
    expect(c.status).toBe(status);
    expect(c.error).toMatch(new RegExp(`^parent ${parent!.id} failed: attempts exhausted`));
    expect(c.attempts).toBe(0);
    const g = await task(grandchild!.id);
    expect(g.status).toBe("failed");
    expect(g.error).toMatch(new RegExp(`^parent ${child!.id} ${status}`));
  });

  it("on_parent_failure=run lets the dependent run once every parent has finished, seeing the failure", async () => {
    const [bad, good, child] = await batch([
      { type: "flaky", ref: "bad", params: { fail_times: 5 }, max_attempts: 1 },
      { type: "ping", ref: "good" },
      { type: ECHO_PARENTS, depends_on: ["bad", "good"], on_parent_failure: "run" },
    ]);
    await runUntilFinished([bad!.id, good!.id, child!.id]);
    const c = await task(child!.id);
    expect(c.status).toBe("completed");
    const parents = (c.result as { parents: Record<string, { status: string; error: string | null }> }).parents;
    expect(parents[bad!.id]).toMatchObject({ status: "failed", error: expect.stringMatching(/attempts exhausted/) });
    expect(parents[good!.id]?.status).toBe("completed");
  });

  it("cancelling a parent cancels or fails its waiting dependents in the same request", async () => {
    const [parent] = await batch([{ type: "ping", run_immediately: false }]);
    const [failing, cancelling] = await batch([
      { type: "ping", depends_on: [parent!.id] },
      { type: "ping", depends_on: [parent!.id], on_parent_failure: "cancel" },
    ]);
    expect((await postJson(`/tasks/${parent!.id}/cancel`, {})).status).toBe(200);
    expect(await task(failing!.id)).toMatchObject({ status: "failed", error: `parent ${parent!.id} cancelled` });
    expect((await task(cancelling!.id)).status).toBe("cancelled");
  });

  it("a dependent of parents that have already completed is queued at once", async () => {
    const [parent] = await batch([{ type: "ping" }]);
    await runUntilFinished([parent!.id]);
    const [child] = await batch([{ type: "test_task", depends_on: [parent!.id] }]);
    expect(child).toMatchObject({ status: "queued", waiting_on: 0 });
    await runUntilFinished([child!.id]);
    expect((await task(child!.id)).status).toBe("completed");
  });

  it("a waiting dependent cannot be run by hand; cancelling it is fine", async () => {
    const [parent] = await batch([{ type: "ping", run_immediately: false }]);
    const [child] = await batch([{ type: "ping", depends_on: [parent!.id] }]);
    const res = await postJson(`/tasks/${child!.id}/run`, {});
    expect(res.status).toBe(409);
    expect((await res.json<{ error: { message: string } }>()).error.message).toMatch(/waits on 1 parent/);
    expect((await postJson(`/tasks/${child!.id}/cancel`, {})).status).toBe(200);
  });

  it("refuses unknown parents, unknown refs, cycles and dependents that wait for /run", async () => {
    const missing = "00000000-0000-4000-8000-000000000000";
    const cases: [unknown, RegExp][] = [
      [{ tasks: [{ type: "ping", depends_on: [missing] }] }, new RegExp(`no task ${missing}`)],
      [{ tasks: [{ type: "ping", depends_on: ["nope"] }] }, /tasks\.0\.depends_on\.0: no item of this batch has ref 'nope'/],
      [{ tasks: [{ type: "ping", ref: "a", depends_on: ["b"] }, { type: "ping", ref: "b", depends_on: ["a"] }] }, /refs form a cycle: a → b → a/],
      [{ tasks: [{ type: "ping", ref: "a" }, { type: "ping", depends_on: ["a"], run_immediately: false }] }, /tasks\.1\.run_immediately/],
      [{ tasks: [{ type: "ping", on_parent_failure: "run" }] }, /on_parent_failure: needs depends_on/],
      [{ tasks: [{ type: "ping", ref: "a", idempotency_key: "k1" }, { type: "ping", depends_on: ["a"] }] }, /tasks\.0\.idempotency_key/],
      [{ tasks: [{ type: "ping", depends_on: Array.from({ length: 101 }, () => crypto.randomUUID()) }] }, /depends_on/],
    ];
    for (const [body, message] of cases) {
      const res = await postJson("/tasks/batch", body);
      expect(res.status, JSON.stringify(body).slice(0, 120)).toBe(400);
      expect((await res.json<{ error: { message: string } }>()).error.message).toMatch(message);
    }
    const single = await postJson("/tasks", { type: "ping", depends_on: [missing] });
    expect(single.status).toBe(400);
  });

  it("a chain of 1,000 dependent tasks completes, each after its parent", { timeout: 120_000 }, async () => {
    const ids: string[] = [];
    for (let b = 0; b < 10; b++) {
      const items = Array.from({ length: 100 }, (_, i) => {
        const previous = i === 0 ? ids.at(-1) : `t${i - 1}`;
        return { type: "ping", ref: `t${i}`, ...(previous ? { depends_on: [previous] } : {}) };
      });
      ids.push(...(await batch(items)).map((t) => t.id));
    }
    await runUntilFinished(ids, 50);
    const { results } = await env.DB.prepare(
      `SELECT t.status, (SELECT e.at FROM task_timeline AS e WHERE e.task_id = t.id AND e.to_status = 'running') AS started,
              (SELECT e.at FROM task_timeline AS e WHERE e.task_id = t.id AND e.to_status = 'completed') AS finished
       FROM json_each(?) AS j CROSS JOIN tasks AS t ON t.id = j.value ORDER BY j.key`,
    )
      .bind(JSON.stringify(ids))
      .all<{ status: string; started: number; finished: number }>();
    expect(results.filter((r) => r.status !== "completed")).toEqual([]);
    for (let i = 1; i < results.length; i++) expect(results[i]!.started).toBeGreaterThanOrEqual(results[i - 1]!.finished);
  });

  it("a parent with 2,500 children releases them all in bounded rounds, within D1's limits", { timeout: 120_000 }, async () => {
    const [parent] = await batch([{ type: "ping", run_immediately: false }]);
    const children: string[] = [];
    for (let b = 0; b < 25; b++) {
      children.push(...(await batch(Array.from({ length: 100 }, () => ({ type: "ping", depends_on: [parent!.id] })))).map((t) => t.id));
    }
    expect((await postJson(`/tasks/${parent!.id}/run`, {})).status).toBe(200);
    const log: RecordedStatement[] = [];
    const { queue, sends } = limitQueue();
    await drain({ db: openDb(recordingD1(env.DB, log)), queue });
    expectWithinLimits(log, sends);
    const counts = await env.DB.prepare(
      "SELECT t.status, count(*) AS n FROM json_each(?) AS j CROSS JOIN tasks AS t ON t.id = j.value GROUP BY t.status",
    )
      .bind(JSON.stringify(children))
      .all<{ status: string; n: number }>();
    // The parent's outcome write released the first round; its follow-up the rest, and the passes ran them.
    expect(counts.results.filter((r) => r.status === "created")).toEqual([]);
    await runUntilFinished(children);
  });
});
