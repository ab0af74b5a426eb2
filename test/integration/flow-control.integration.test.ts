import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { requireConfig } from "../../src/config";
import { followUpDeps } from "../../src/follow-ups";
import type { TaskEnvelope, TaskOutcome } from "../../src/organism/task-contracts";
import { runMaintenancePass } from "../../src/maintenance/maintenance-pass";
import { taskInputSchema } from "../../src/schemas/task";
import { claimDueTasks } from "../../src/store/claim-due-tasks";
import { submitTasks } from "../../src/submit-tasks";
import { batched, drain } from "../helpers/dispatch";
import { recordingQueue } from "../helpers/recording-queue";
import { db, getTask, insertTask, insertTasks, newTask, settleOtherTasks, sql } from "../helpers/tasks";
import { definedType } from "../helpers/task-types";
import { api, postJson } from "../helpers/worker";

const config = requireConfig(env);
const claim = (maxTasks: number, leaseMs = 60_000, now = Date.now()) =>
  claimDueTasks(db(), { token: crypto.randomUUID(), now, leaseMs, maxTasks, maxInputBytes: 1e9 });
/** A RunTasks that completes every task: (pass id, tasks, plan store) → outcomes. */
const complete = async (_pass: string, envelopes: TaskEnvelope[]): Promise<TaskOutcome[]> => envelopes.map((e) => ({ id: e.id, ok: true, result: { success: true } }));
const ok = batched(complete);
const maintenance = (now = Date.now()) =>
  runMaintenancePass({ db: db(), queue: recordingQueue().queue, config, now: () => now, statementsUsed: () => 0, followUp: followUpDeps(env, db()) });
const statusOf = async (id: string) => (await getTask(id)).status;
const count = async (where: string, ...binds: unknown[]) =>
  (await env.DB.prepare(`SELECT count(*) AS n FROM tasks WHERE ${where}`).bind(...binds).first<{ n: number }>())?.n ?? 0;

interface TaskBody {
  id: string;
  status: string;
  priority: number;
  concurrency_key: string | null;
  concurrency_limit: number | null;
  paused: boolean;
  waiting_on_key: boolean;
}

beforeEach(settleOtherTasks);

describe("priority", () => {
  it("20 tasks with a head start of an hour start before any of 500 queued ahead of them", async () => {
    const now = Date.now();
    const blocker = await insertTask({ domain: "prio" });
    await claim(1); // the blocker runs; the backlog waits behind it
    expect(await statusOf(blocker.id)).toBe("running");
    const backlog = await insertTasks(Array.from({ length: 500 }, () => newTask({ domain: "prio" })), now - 1000);
    const urgent = await insertTasks(Array.from({ length: 20 }, () => newTask({ domain: "prio", priority: 3600 })), now);
    const started: string[] = [];
    for (let i = 0; i < 3; i++) started.push(...(await claim(10)).claimed.map((t) => t.id));
    const urgentIds = new Set(urgent.map((c) => c.row.id));
    expect(started.slice(0, 20).every((id) => urgentIds.has(id))).toBe(true);
    expect(started.slice(20).every((id) => backlog.some((c) => c.row.id === id))).toBe(true);
  });

  it("keeps the tasks of one batch in submission order (their order keys tie)", async () => {
    const now = Date.now();
    const deps = { db: db(), queue: recordingQueue().queue, config, now, followUp: followUpDeps(env, db()) };
    const inputs = Array.from({ length: 30 }, (_, i) => taskInputSchema.parse({ type: "ping", description: `item ${i}` }));
    const submitted = (await submitTasks(inputs, deps)).map((c) => c.row.id);
    const started: string[] = [];
    for (let i = 0; i < submitted.length; i++) started.push(...(await claim(1, 60_000, now)).claimed.map((t) => t.id));
    expect(started).toEqual(submitted);
  });

  it("ages: a task that has waited longer than another's head start still goes first", async () => {
    const now = Date.now();
    const old = await insertTask({ domain: "aging" }); // waited two hours
    await sql("UPDATE tasks SET created_at = ? WHERE id = ?", now - 2 * 3600_000, old.id);
    const urgent = await insertTask({ domain: "aging", priority: 3600 });
    expect((await claim(1, 60_000, now)).claimed.map((t) => t.id)).toEqual([old.id]);
    expect((await claim(1, 60_000, now)).claimed.map((t) => t.id)).toEqual([urgent.id]);
  });

  it("is validated and shown: 0-86,400 seconds", async () => {
    const res = await postJson("/tasks", { type: "ping", priority: 86_401 });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain("priority");
    const created = await postJson("/tasks", { type: "ping", priority: 600, run_immediately: false });
    expect(await created.json<TaskBody>()).toMatchObject({ priority: 600, concurrency_key: null, paused: false, waiting_on_key: false });
  });
});

describe("concurrency keys", () => {
  it("never runs more than the key's limit, across four racing passes and the reaper's rescues", async () => {
    const key = `limit2-${crypto.randomUUID()}`;
    const tasks = await insertTasks(Array.from({ length: 40 }, () => newTask({ type: "ping", concurrency_key: key, concurrency_limit: 2, max_attempts: 20 })));
    const samples: number[] = [];
    const sample = async () => samples.push(await count("concurrency_key = ? AND status = 'running'", key));
    const slowOk = batched(async (pass: string, envelopes: TaskEnvelope[]) => {
      await sample();
      await new Promise((r) => setTimeout(r, 3));
      await sample();
      return complete(pass, envelopes);
    });
    let rounds = 0;
    while ((await count("concurrency_key = ? AND status NOT IN ('completed', 'failed')", key)) > 0) {
      if (++rounds > 60) throw new Error("the key's tasks did not finish");
      // A dispatcher that dies holding the key's slots (its lease is already over), then four live
      // passes racing each other and the reaper that rescues the dead one's tasks.
      if (rounds % 3 === 0) await claim(10, -1000);
      await Promise.all([drain({ runTasks: slowOk }), drain({ runTasks: slowOk }), drain({ runTasks: slowOk }), drain({ runTasks: slowOk }), maintenance(), sample()]);
    }
    expect(samples.length).toBeGreaterThan(40);
    expect(Math.max(...samples)).toBe(2);
    expect(await count("concurrency_key = ? AND status = 'completed'", key)).toBe(40);
    expect(tasks.every((t) => t.row.concurrencyLimit === 2)).toBe(true);
    const keyRes = await api(`/concurrency-keys/${key}`);
    expect(await keyRes.json()).toMatchObject({ key, limit: 2, waiting: 0, running: 0, paused: false });
  });

  it("one wake-up runs a key's whole backlog, one at a time under limit 1 (a finished task frees its slot)", async () => {
    const key = `serial-${crypto.randomUUID()}`;
    const tasks = await insertTasks(Array.from({ length: 5 }, () => newTask({ type: "ping", concurrency_key: key })));
    let running = 0;
    let most = 0;
    await drain({
      runTasks: batched(async (pass, envelopes) => {
        running += envelopes.length;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 2));
        running -= envelopes.length;
        return complete(pass, envelopes);
      }),
    });
    for (const t of tasks) expect(await statusOf(t.row.id)).toBe("completed");
    expect(most).toBe(1);
  });

  it("takes turns: key B's ten tasks, submitted after key A's 10,000, finish before A's 200th", async () => {
    const a = `fair-a-${crypto.randomUUID()}`;
    const b = `fair-b-${crypto.randomUUID()}`;
    const now = Date.now();
    await insertTasks(Array.from({ length: 10_000 }, () => newTask({ type: "ping", concurrency_key: a, concurrency_limit: 1000 })), now - 5000);
    const lone = await insertTask({ type: "ping" }); // no key, submitted after A's backlog
    const bTasks = await insertTasks(Array.from({ length: 10 }, () => newTask({ type: "ping", concurrency_key: b, concurrency_limit: 1000 })));
    const finished: string[] = [];
    const record = async (pass: string, envelopes: Pick<TaskEnvelope, "id">[]) => {
      finished.push(...envelopes.map((e) => e.id));
    };
    // One pass at a time, so the order of finishing is the order of claiming.
    while (finished.length < 300) {
      const before = finished.length;
      const { claimed } = await claim(96);
      await record("in-order", claimed);
      await sql("UPDATE tasks SET status = 'completed', locked_by = NULL WHERE id IN (SELECT value FROM json_each(?))", JSON.stringify(claimed.map((t) => t.id)));
      if (finished.length === before) break;
    }
    const aIndexes = finished.map((id, i) => [id, i] as const).filter(([id]) => id !== lone.id && !bTasks.some((t) => t.row.id === id));
    const a200 = aIndexes[199]?.[1];
    expect(a200).toBeDefined();
    for (const id of [...bTasks.map((t) => t.row.id), lone.id]) {
      expect(finished).toContain(id);
      expect(finished.indexOf(id)).toBeLessThan(a200!);
    }
  }, 60_000);

  it("takes the submission's limit (else the configured one, else 1) and refuses a limit without a key", async () => {
    const refused = await postJson("/tasks", { type: "ping", concurrency_limit: 3 });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(await refused.json())).toContain("concurrency_limit needs a concurrency_key");
    const tooLong = await postJson("/tasks", { type: "ping", concurrency_key: "k".repeat(129) });
    expect(tooLong.status).toBe(400);
    const own = await postJson("/tasks", { type: "ping", concurrency_key: `own-${crypto.randomUUID()}`, concurrency_limit: 7, run_immediately: false });
    expect(await own.json<TaskBody>()).toMatchObject({ concurrency_limit: 7 });
    const plain = await postJson("/tasks", { type: "ping", concurrency_key: `plain-${crypto.randomUUID()}`, run_immediately: false });
    expect(await plain.json<TaskBody>()).toMatchObject({ concurrency_limit: 1 });
    const deps = { db: db(), queue: recordingQueue().queue, config: { ...config, CONCURRENCY_LIMITS: { "tenant:": 5 } }, now: Date.now(), followUp: followUpDeps(env, db()) };
    const [configured] = await submitTasks([taskInputSchema.parse({ type: "ping", concurrency_key: `tenant:${crypto.randomUUID()}`, run_immediately: false })], deps);
    expect(configured?.row.concurrencyLimit).toBe(5);
  });

  it("shows a queued task over its key's limit as waiting on its key, in GET /tasks/{id} and the list filter", async () => {
    const key = `busy-${crypto.randomUUID()}`;
    // 1 ms apart, so the claim's order (sort_key, then id) takes `first`.
    const now = Date.now();
    const [first] = (await insertTasks([newTask({ type: "ping", concurrency_key: key })], now)).map((c) => c.row);
    const [second] = (await insertTasks([newTask({ type: "ping", concurrency_key: key })], now + 1)).map((c) => c.row);
    if (!first || !second) throw new Error("tasks not inserted");
    await claim(10);
    expect(await statusOf(first.id)).toBe("running");
    const body = await (await api(`/tasks/${second.id}`)).json<TaskBody>();
    expect(body).toMatchObject({ status: "queued", concurrency_key: key, waiting_on_key: true, paused: false });
    const list = await (await api(`/tasks?flow=waiting_on_key&concurrency_key=${key}`)).json<{ items: TaskBody[] }>();
    expect(list.items.map((t) => t.id)).toEqual([second.id]);
    expect((await api("/tasks?flow=sideways")).status).toBe(400);
  });
});

describe("pause and resume", () => {
  it("holds a type's tasks, new ones included, and releases them at once on resume", async () => {
    const type = "echo";
    const before = await insertTask({ type, domain: "pause-type" });
    const paused = await postJson(`/types/${type}/pause`, {});
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ type, paused: true });
    const after = await insertTask({ type, domain: "pause-type" });
    const other = await insertTask({ type: "ping", domain: "pause-type" });
    await drain({ runTasks: ok });
    expect(await statusOf(before.id)).toBe("queued");
    expect(await statusOf(after.id)).toBe("queued");
    expect(await statusOf(other.id)).toBe("completed");
    const shown = await (await api(`/tasks/${after.id}`)).json<TaskBody>();
    expect(shown).toMatchObject({ status: "queued", paused: true });
    const list = await (await api("/tasks?flow=paused&type=echo")).json<{ items: TaskBody[] }>();
    expect(list.items.map((t) => t.id).sort()).toEqual([before.id, after.id].sort());
    const types = await (await api("/types")).json<{ items: { type: string; paused: boolean; counts: Record<string, number> }[] }>();
    expect(types.items.find((t) => t.type === type)).toMatchObject({ paused: true, counts: { queued: 2 } });

    const resumed = await postJson(`/types/${type}/resume`, {});
    expect(await resumed.json()).toMatchObject({ type, paused: false });
    await drain({ runTasks: ok });
    expect(await statusOf(before.id)).toBe("completed");
    expect(await statusOf(after.id)).toBe("completed");
  });

  it("never claims a paused type's task after the reaper rescues it", async () => {
    const type = "flaky";
    const task = await insertTask({ type, domain: "pause-rescue" });
    await claim(10, -1000); // its dispatcher died: the lease is already over
    expect(await statusOf(task.id)).toBe("running");
    await postJson(`/types/${type}/pause`, {});
    expect(await maintenance()).toMatchObject({ reaped: 1 });
    expect(await statusOf(task.id)).toBe("retry");
    expect((await claim(10)).claimed).toEqual([]);
    await drain({ runTasks: ok });
    expect(await (await api(`/tasks/${task.id}`)).json<TaskBody>()).toMatchObject({ status: "retry", paused: true });
    await postJson(`/types/${type}/resume`, {});
    await drain({ runTasks: ok });
    expect(await statusOf(task.id)).toBe("completed");
  });

  it("a task that waited in created while its type was paused runs once queued after the resume (run_immediately:false)", async () => {
    const type = definedType(`pause-created-${crypto.randomUUID().slice(0, 8)}`);
    await insertTask({ type, status: "created" }); // the type exists, so it can be paused
    expect((await postJson(`/types/${type}/pause`, {})).status).toBe(200);
    const a = await (await postJson("/tasks", { type, run_immediately: false })).json<TaskBody>();
    expect(a).toMatchObject({ status: "created", paused: false });
    expect((await postJson(`/types/${type}/resume`, {})).status).toBe(200);
    const run = await (await postJson(`/tasks/${a.id}/run`, {})).json<TaskBody>();
    expect(run).toMatchObject({ status: "queued", paused: false });
    expect(await (await api(`/tasks/${a.id}`)).json<TaskBody>()).toMatchObject({ status: "queued", paused: false });
    const listed = await (await api(`/tasks?flow=paused&type=${type}`)).json<{ items: TaskBody[] }>();
    expect(listed.items).toEqual([]);
    await drain({ runTasks: ok });
    expect(await statusOf(a.id)).toBe("completed");
  });

  it("shows paused exactly while the type's flag is set, in GET /tasks/{id}, the list filter and POST /tasks/{id}/run", async () => {
    const type = definedType(`pause-shown-${crypto.randomUUID().slice(0, 8)}`);
    const task = await insertTask({ type, status: "created" });
    await postJson(`/types/${type}/pause`, {});
    const run = await (await postJson(`/tasks/${task.id}/run`, {})).json<TaskBody>();
    expect(run).toMatchObject({ status: "queued", paused: true });
    const posted = await (await postJson("/tasks", { type })).json<TaskBody>();
    expect(posted).toMatchObject({ status: "queued", paused: true });
    const pausedList = async () => (await (await api(`/tasks?flow=paused&type=${type}`)).json<{ items: TaskBody[] }>()).items.map((t) => t.id).sort();
    expect(await pausedList()).toEqual([task.id, posted.id].sort());
    await postJson(`/types/${type}/resume`, {});
    expect(await (await api(`/tasks/${task.id}`)).json<TaskBody>()).toMatchObject({ status: "queued", paused: false });
    expect(await pausedList()).toEqual([]);
  });

  it("a dependent that waited while its type was paused runs once its parent completes after the resume", async () => {
    const type = definedType(`pause-child-${crypto.randomUUID().slice(0, 8)}`);
    await insertTask({ type, status: "created" });
    await postJson(`/types/${type}/pause`, {});
    const batch = await postJson("/tasks/batch", { tasks: [{ type: "ping", ref: "p" }, { type, depends_on: ["p"] }] });
    expect(batch.status).toBe(201);
    const [parent, child] = (await batch.json<{ items: TaskBody[] }>()).items;
    if (!parent || !child) throw new Error("batch not created");
    expect(child.status).toBe("created");
    await postJson(`/types/${type}/resume`, {});
    await drain({ runTasks: ok });
    expect(await statusOf(parent.id)).toBe("completed");
    expect(await statusOf(child.id)).toBe("completed");
  });

  it("passes over keys whose waiting tasks are all of a paused type, so a healthy key behind 100 of them still runs", async () => {
    const type = `pause-keys-${crypto.randomUUID().slice(0, 8)}`;
    const prefix = `a-paused-${crypto.randomUUID().slice(0, 8)}`;
    await insertTasks(Array.from({ length: 100 }, (_, i) => newTask({ type, concurrency_key: `${prefix}-${String(i).padStart(3, "0")}` })));
    await postJson(`/types/${type}/pause`, {});
    // Last in the keys' turn order (all unserved, then by name).
    const healthy = await insertTask({ type: "ping", concurrency_key: `zz-healthy-${crypto.randomUUID()}` });
    const { claimed } = await claim(96);
    expect(claimed.map((t) => t.id)).toEqual([healthy.id]);
    await postJson(`/types/${type}/resume`, {});
  });

  it("holds a concurrency key's tasks while it is paused", async () => {
    const key = `pause-key-${crypto.randomUUID()}`;
    const task = await insertTask({ type: "ping", concurrency_key: key, concurrency_limit: 5 });
    const res = await postJson(`/concurrency-keys/${encodeURIComponent(key)}/pause`, {});
    expect(await res.json()).toMatchObject({ key, paused: true, waiting: 1, limit: 5 });
    await drain({ runTasks: ok });
    expect(await (await api(`/tasks/${task.id}`)).json<TaskBody>()).toMatchObject({ status: "queued", paused: true, waiting_on_key: false });
    await postJson(`/concurrency-keys/${encodeURIComponent(key)}/resume`, {});
    await drain({ runTasks: ok });
    expect(await statusOf(task.id)).toBe("completed");
  });

  it("answers unknown types and keys with 404 and bad names with 400", async () => {
    expect((await api("/types/never-submitted-type")).status).toBe(404);
    expect((await api(`/concurrency-keys/none-${crypto.randomUUID()}`)).status).toBe(404);
    expect((await postJson("/types/Bad Type!/pause", {})).status).toBe(400);
    expect((await api("/types?limit=0")).status).toBe(400);
  });

  it("answers a pause or resume of a type or key no task ever had with 404, and makes no row", async () => {
    const type = `never:${crypto.randomUUID()}`;
    const key = `never-${crypto.randomUUID()}`;
    for (const path of [`/types/${type}/pause`, `/types/${type}/resume`, `/concurrency-keys/${key}/pause`, `/concurrency-keys/${key}/resume`]) {
      const res = await postJson(path, {});
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toMatchObject({ error: { code: "not_found" } });
    }
    expect((await api(`/types/${type}`)).status).toBe(404);
    expect((await api(`/concurrency-keys/${key}`)).status).toBe(404);
  });

  it("refuses types and keys a URL path cannot name (dots only, /, %, spaces) with a 400 naming the field", async () => {
    for (const type of [".", "..", "..."]) {
      const res = await postJson("/tasks", { type, run_immediately: false });
      expect(res.status, type).toBe(400);
      expect(JSON.stringify(await res.json()), type).toContain("type");
    }
    for (const concurrency_key of [".", "..", "a/b", "a%2F", "a b", "a?b", "a#b"]) {
      const res = await postJson("/tasks", { type: "ping", concurrency_key, run_immediately: false });
      expect(res.status, concurrency_key).toBe(400);
      expect(JSON.stringify(await res.json()), concurrency_key).toContain("concurrency_key");
    }
    // What is accepted can be addressed: a key with every allowed punctuation mark round-trips.
    const key = `a.b:c@d+e=f~g_h-${crypto.randomUUID()}`;
    expect((await postJson("/tasks", { type: "ping", concurrency_key: key, run_immediately: false })).status).toBe(201);
    expect(await (await postJson(`/concurrency-keys/${key}/pause`, {})).json()).toMatchObject({ key, paused: true });
    expect(await (await postJson(`/concurrency-keys/${key}/resume`, {})).json()).toMatchObject({ key, paused: false });
  });
});
