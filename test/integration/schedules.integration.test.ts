import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { reaperStub } from "../../src/maintenance/reaper-stub";
import { requireConfig } from "../../src/config";
import { followUpDeps } from "../../src/follow-ups";
import { fireDueSchedules, SCHEDULE_STATEMENT_BUDGET, slotKey } from "../../src/maintenance/fire-schedules";
import { recordingQueue } from "../helpers/recording-queue";
import { db, sql } from "../helpers/tasks";
import { api, postJson } from "../helpers/worker";

const config = requireConfig(env);
const HOUR = 3600_000;
const T0 = Date.parse("2030-01-01T00:00:00Z");
const fire = (now: number, statementsUsed = () => 0) =>
  fireDueSchedules({ db: db(), queue: recordingQueue().queue, config, now: () => now, statementsUsed, followUp: followUpDeps(env, db()) });

interface ScheduleBody {
  name: string;
  paused: boolean;
  next_run_at: string | null;
  last_run_at: string | null;
  last_task_id: string | null;
  last_task_status: string | null;
  fired: number;
  skipped: number;
}

let seq = 0;
/** Creates a schedule through the API, then puts its next slot at `nextAt` on the test's own clock. */
async function schedule(body: Record<string, unknown> = {}, nextAt: number | null = T0 + HOUR): Promise<string> {
  const name = `s${++seq}-${crypto.randomUUID().slice(0, 8)}`;
  const res = await postJson("/schedules", { name, cron: "0 * * * *", task: { type: "ping", params: { from: name } }, ...body });
  expect(res.status, await res.clone().text()).toBe(201);
  if (nextAt !== null) await sql("UPDATE schedules SET next_run_at = ? WHERE name = ?", nextAt, name);
  return name;
}

async function tasksOf(name: string): Promise<{ id: string; idempotency_key: string }[]> {
  const { results } = await env.DB.prepare("SELECT id, idempotency_key FROM tasks WHERE idempotency_key LIKE ? ORDER BY idempotency_key")
    .bind(`schedule:${name}:%`)
    .all<{ id: string; idempotency_key: string }>();
  return results;
}

const get = async (name: string) => (await api(`/schedules/${name}`)).json<ScheduleBody>();

describe("POST /schedules", () => {
  it("refuses a bad expression or timezone with a 400 naming it", async () => {
    const bad = await postJson("/schedules", { name: "bad-cron", cron: "every monday", task: { type: "ping" } });
    expect(bad.status).toBe(400);
    expect((await bad.json<{ error: { message: string } }>()).error.message).toContain("'every monday'");
    const tz = await postJson("/schedules", { name: "bad-tz", cron: "0 * * * *", timezone: "Moon/Base", task: { type: "ping" } });
    expect(tz.status).toBe(400);
    expect((await tz.json<{ error: { message: string } }>()).error.message).toContain("'Moon/Base'");
    const task = await postJson("/schedules", { name: "bad-task", cron: "0 * * * *", task: { type: "ping", idempotency_key: "x" } });
    expect(task.status).toBe(400);
    expect((await postJson("/schedules", { name: "no spaces", cron: "0 * * * *", task: { type: "ping" } })).status).toBe(400);
    expect((await api("/schedules/nope")).status).toBe(404);
  });

  it("refuses a name a URL path cannot address (., .., a/b, a%2F, any dot) with a 400 naming it, and stores nothing", async () => {
    for (const name of [".", "..", "a/b", "a%2F", "a.b"]) {
      const res = await postJson("/schedules", { name, cron: "* * * * * *", task: { type: "ping" } });
      expect(res.status, name).toBe(400);
      const body = await res.json<{ error: { details?: { fields?: { path: string }[] } } }>();
      expect(body.error.details?.fields?.map((f) => f.path), name).toContain("name");
    }
    const { n } = (await env.DB.prepare("SELECT count(*) AS n FROM schedules WHERE name IN ('.', '..', 'a/b', 'a%2F', 'a.b')").first<{ n: number }>())!;
    expect(n).toBe(0);
  });

  it("keeps a schedule named with a dot before dots were refused addressable", async () => {
    const now = Date.now();
    await sql(
      "INSERT INTO schedules (name, cron, timezone, task, created_at, updated_at) VALUES ('legacy.dot', '0 * * * *', 'UTC', '{\"type\":\"ping\"}', ?, ?)",
      now,
      now,
    );
    expect((await api("/schedules/legacy.dot")).status).toBe(200);
    expect((await api("/schedules/legacy.dot", { method: "DELETE" })).status).toBe(200);
  });

  it("refuses dependencies in a schedule's task, and a callback_url no deployment may post to", async () => {
    const parent = crypto.randomUUID();
    for (const task of [{ type: "ping", depends_on: [parent] }, { type: "ping", ref: "a" }, { type: "ping", on_parent_failure: "run" }]) {
      const res = await postJson("/schedules", { name: `deps-${crypto.randomUUID().slice(0, 8)}`, cron: "0 * * * *", task });
      expect(res.status, JSON.stringify(task)).toBe(400);
    }
    const hook = await postJson("/schedules", { name: "bad-hook", cron: "0 * * * *", task: { type: "ping", callback_url: "ftp://example.com/x" } });
    expect(hook.status).toBe(400);
    expect((await hook.json<{ error: { message: string } }>()).error.message).toContain("callback_url");
    const name = await schedule({}, null);
    const patched = await api(`/schedules/${name}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ task: { type: "ping", callback_url: "ftp://example.com/x" } }),
    });
    expect(patched.status).toBe(400);
    expect((await patched.json<{ error: { message: string } }>()).error.message).toContain("callback_url");
    expect((await api(`/schedules/${name}`, { method: "DELETE" })).status).toBe(200);
  });

  it("refuses a second schedule of the same name with 409, lists, patches and deletes", async () => {
    const name = await schedule({}, null);
    expect((await postJson("/schedules", { name, cron: "0 * * * *", task: { type: "ping" } })).status).toBe(409);
    const list = await (await api("/schedules?limit=200")).json<{ items: ScheduleBody[] }>();
    expect(list.items.map((s) => s.name)).toContain(name);
    const patched = await api(`/schedules/${name}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ cron: "*/5 * * * * *", timezone: "Asia/Tokyo" }) });
    expect(await patched.json()).toMatchObject({ cron: "*/5 * * * * *", timezone: "Asia/Tokyo", paused: false });
    const badPatch = await api(`/schedules/${name}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ cron: "nonsense" }) });
    expect(badPatch.status).toBe(400);
    const deleted = await api(`/schedules/${name}`, { method: "DELETE" });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toMatchObject({ name, cron: "*/5 * * * * *" });
    expect((await api(`/schedules/${name}`, { method: "DELETE" })).status).toBe(404);
    expect((await api(`/schedules/${name}`)).status).toBe(404);
  });
});

describe("firing slots (injected clock)", () => {
  it("fires each slot once, and shows the last run and its task", async () => {
    const name = await schedule();
    expect(await fire(T0 + HOUR + 200)).toMatchObject({ fired: 1 });
    expect(await fire(T0 + HOUR + 400)).toMatchObject({ fired: 0 });
    const tasks = await tasksOf(name);
    expect(tasks.map((t) => t.idempotency_key)).toEqual([slotKey(name, T0 + HOUR)]);
    expect(slotKey(name, T0 + HOUR)).toBe(`schedule:${name}:2030-01-01T01:00:00.000Z`);
    expect(await get(name)).toMatchObject({
      next_run_at: "2030-01-01T02:00:00.000Z",
      last_run_at: "2030-01-01T01:00:00.000Z",
      last_task_id: tasks[0]!.id,
      last_task_status: "queued",
      fired: 1,
    });
    await fire(T0 + 2 * HOUR + 100);
    expect(await tasksOf(name)).toHaveLength(2);
  });

  it("two alarm passes racing on one slot yield one task", async () => {
    const name = await schedule();
    const reports = await Promise.all([fire(T0 + HOUR + 10), fire(T0 + HOUR + 10), fire(T0 + HOUR + 20)]);
    expect(await tasksOf(name)).toHaveLength(1);
    expect(reports.reduce((n, r) => n + r.fired, 0)).toBe(1);
    expect(await get(name)).toMatchObject({ fired: 1 });
  });

  it("ten missed slots give 0 / 1 / 10 tasks for skip / once / all, and max_catchup caps", async () => {
    const now = T0 + 10 * HOUR + 30 * 60_000; // slots 1h … 10h were missed (the last half an hour ago)
    const skip = await schedule({ missed: "skip" });
    const once = await schedule({ missed: "once" });
    const all = await schedule({ missed: "all" });
    const capped = await schedule({ missed: "all", max_catchup: 4 });
    await fire(now);
    expect(await tasksOf(skip)).toHaveLength(0);
    expect(await tasksOf(once)).toHaveLength(1);
    expect(await tasksOf(all)).toHaveLength(10);
    expect(await tasksOf(capped)).toHaveLength(4);
    expect(await get(skip)).toMatchObject({ skipped: 10, fired: 0, next_run_at: "2030-01-01T11:00:00.000Z" });
    expect(await get(once)).toMatchObject({ skipped: 9, fired: 1, last_run_at: "2030-01-01T10:00:00.000Z" });
    expect(await get(capped)).toMatchObject({ skipped: 6, fired: 4 });
    const metrics = await (await api("/metrics")).text();
    expect(metrics).toMatch(/seedcore_schedule_tasks_fired_total \d+/);
    expect(metrics).toMatch(/seedcore_schedule_slots_skipped_total (\d+)/);
    expect(Number(metrics.match(/seedcore_schedule_slots_skipped_total (\d+)/)?.[1])).toBeGreaterThanOrEqual(25);
  });

  it("stops at its statement budget mid catch-up and goes on from the first unfired slot at the next tick", async () => {
    await sql("DELETE FROM schedules");
    const name = await schedule({ missed: "all", max_catchup: 300 }); // 300 missed hourly slots: 3 submissions of 100
    const now = T0 + 300 * HOUR + 30 * 60_000;
    let used = SCHEDULE_STATEMENT_BUDGET - 12; // room for two submissions, not three
    const first = await fire(now, () => (used += 3) - 3);
    expect(first.nextAt).toBe(now); // left work: the alarm comes back at once
    expect(await tasksOf(name)).toHaveLength(200);
    expect(await get(name)).toMatchObject({ next_run_at: new Date(T0 + 201 * HOUR).toISOString(), fired: 200 });
    await fire(now + 1000);
    expect(await tasksOf(name)).toHaveLength(300);
    expect(await get(name)).toMatchObject({ fired: 300, next_run_at: new Date(T0 + 301 * HOUR).toISOString() });
  });

  it("a DST change in the schedule's timezone neither skips nor doubles a slot", async () => {
    const name = await schedule({ cron: "30 2 * * *", timezone: "Europe/Berlin" }, null);
    await sql("DELETE FROM schedules WHERE name <> ?", name);
    // The alarm as it runs: each pass at the next slot the previous one reported.
    const alarmFrom = async (from: string, until: string) => {
      await sql("UPDATE schedules SET next_run_at = ? WHERE name = ?", Date.parse(from), name);
      for (let t: number | null = Date.parse(from); t !== null && t <= Date.parse(until); ) t = (await fire(t)).nextAt;
    };
    // 2030-03-31: 02:30 does not exist in Berlin (it fires at 03:00 CEST); 2030-10-27: 02:30 happens twice (it fires once).
    await alarmFrom("2030-03-30T01:30:00Z", "2030-04-02T00:00:00Z");
    await alarmFrom("2030-10-26T00:30:00Z", "2030-10-29T00:00:00Z");
    expect((await tasksOf(name)).map((t) => t.idempotency_key.slice(-24))).toEqual([
      "2030-03-30T01:30:00.000Z",
      "2030-03-31T01:00:00.000Z",
      "2030-04-01T00:30:00.000Z",
      "2030-10-26T00:30:00.000Z",
      "2030-10-27T00:30:00.000Z", // the first 02:30 (CEST) only
      "2030-10-28T01:30:00.000Z",
    ]);
  });

  it("pause stops slots; resume starts with the next one, without catching up", async () => {
    const name = await schedule({ missed: "all" });
    const paused = await postJson(`/schedules/${name}/pause`, {});
    expect(await paused.json()).toMatchObject({ paused: true, next_run_at: null });
    await fire(T0 + 5 * HOUR);
    expect(await tasksOf(name)).toHaveLength(0);
    const before = Date.now();
    const resumed = await (await postJson(`/schedules/${name}/resume`, {})).json<ScheduleBody>();
    expect(resumed.paused).toBe(false);
    const next = Date.parse(resumed.next_run_at!);
    expect(next).toBeGreaterThan(before);
    expect(next).toBeLessThanOrEqual(before + HOUR);
    await fire(next + 100);
    expect((await tasksOf(name)).map((t) => t.idempotency_key)).toEqual([slotKey(name, next)]);
  });

  it("trigger submits the task now and makes it the last task", async () => {
    const name = await schedule({}, null);
    const res = await postJson(`/schedules/${name}/trigger`, {});
    expect(res.status).toBe(201);
    const task = await res.json<{ id: string; idempotency_key: string; params: Record<string, unknown> }>();
    expect(task.idempotency_key).toMatch(new RegExp(`^schedule:${name}:trigger:`));
    expect(task.params).toEqual({ from: name });
    expect(await get(name)).toMatchObject({ last_task_id: task.id, last_task_status: "queued" });
  });
});

describe("the alarm", () => {
  it("is brought forward to a schedule's next slot when that comes before the next tick", async () => {
    const name = await schedule({ cron: "* * * * * *" }, null);
    const next = Date.parse((await get(name)).next_run_at!);
    const alarm = await runInDurableObject(reaperStub(env) as unknown as DurableObjectStub, (_i: unknown, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(next);
    await api(`/schedules/${name}`, { method: "DELETE" });
  });

  it("a schedule whose task no longer submits waits for the next tick instead of re-arming the alarm at once", async () => {
    await sql("DELETE FROM schedules");
    // Created while webhooks were on; the deployment has since lost its WEBHOOK_SECRET.
    const broken = await schedule({ task: { type: "ping", callback_url: "https://example.com/hook" } }, T0 + HOUR);
    const healthy = await schedule({}, T0 + HOUR);
    const report = await fireDueSchedules({
      db: db(),
      queue: recordingQueue().queue,
      config: { ...config, WEBHOOK_SECRET: undefined },
      now: () => T0 + HOUR + 1,
      statementsUsed: () => 0,
      followUp: followUpDeps(env, db()),
    });
    expect(await tasksOf(broken)).toHaveLength(0);
    expect(await tasksOf(healthy)).toHaveLength(1);
    // The broken one is still due (so it is retried), but the alarm's next time is the healthy one's next slot.
    expect((await get(broken)).next_run_at).toBe(new Date(T0 + HOUR).toISOString());
    expect(report).toEqual({ fired: 1, skipped: 0, nextAt: T0 + 2 * HOUR });
  });

  it("a maintenance pass fires due slots and reports the earliest next one", async () => {
    await sql("DELETE FROM schedules");
    const name = await schedule({}, T0 + HOUR);
    const report = await fire(T0 + HOUR + 1);
    expect(report).toEqual({ fired: 1, skipped: 0, nextAt: T0 + 2 * HOUR });
    expect(await tasksOf(name)).toHaveLength(1);
  });
});
