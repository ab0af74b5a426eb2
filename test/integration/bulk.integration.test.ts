import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { claimDueTasks } from "../../src/store/claim-due-tasks";
import { recordOutcomes } from "../../src/store/record-outcomes";
import { parseMetrics, sampleValue } from "../../src/lib/prometheus";
import { d1Violations } from "../helpers/limits";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { recordingQueue } from "../helpers/recording-queue";
import { db, eventsOf, getTask, insertTasks, newTask, sql } from "../helpers/tasks";
import { api, fetchWithEnv, postJson } from "../helpers/worker";

type Status = "created" | "queued" | "running" | "retry" | "completed" | "failed" | "cancelled";
interface BulkBody {
  affected: number;
  next: string | null;
}

const unique = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;

/**
 * `n` tasks of `domain` in `status`, created 1 ms apart (newest last) from `createdAt`. The status is
 * written by hand: this file tests what bulk operations select and do, not the gauges.
 */
async function seed(domain: string, status: Status, n: number, opts: { createdAt?: number; error?: string; type?: string } = {}): Promise<string[]> {
  const start = opts.createdAt ?? Date.now() - 60_000;
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const [created] = await insertTasks([newTask({ domain, status: "created", type: opts.type ?? "test_task" })], start + i);
    ids.push(created!.row.id);
  }
  await sql("UPDATE tasks SET status = ?, error = ? WHERE domain = ? AND status = 'created'", status, opts.error ?? null, domain);
  return ids;
}

async function bulk(action: string, body: unknown, path = "/tasks/bulk"): Promise<BulkBody> {
  const res = await postJson(`${path}/${action}`, body);
  expect(res.status, JSON.stringify(await res.clone().json())).toBe(200);
  return res.json<BulkBody>();
}

/** Follows `next` to the end; returns each call's `affected`. */
async function bulkAll(action: string, body: Record<string, unknown>): Promise<number[]> {
  const affected: number[] = [];
  let cursor: string | null = null;
  for (let calls = 0; calls < 100; calls++) {
    const r: BulkBody = await bulk(action, cursor ? { ...body, cursor } : body);
    affected.push(r.affected);
    if (!r.next) return affected;
    cursor = r.next;
  }
  throw new Error("next never ended");
}

async function statusesOf(domain: string): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare("SELECT status, count(*) AS n FROM tasks WHERE domain = ? GROUP BY status").bind(domain).all<{ status: string; n: number }>();
  return Object.fromEntries(results.map((r) => [r.status, r.n]));
}

const bulkEvents = async (id: string, message: string) => (await eventsOf(id)).filter((e) => e.message === message && e.actor === "api").length;

describe("POST /tasks/bulk/{retry,cancel,purge}: bad input", () => {
  it("refuses an empty filter, a status the action cannot touch, unknown fields and bad values with 400", async () => {
    for (const action of ["retry", "cancel", "purge"]) {
      for (const body of [{}, { limit: 10 }, { cursor: "abc" }]) {
        const res = await postJson(`/tasks/bulk/${action}`, body);
        expect(res.status).toBe(400);
        expect((await res.json<{ error: { message: string } }>()).error.message).toMatch(/an empty filter is refused/);
      }
    }
    const bad: [string, unknown, RegExp][] = [
      ["retry", { status: "queued" }, /^status:/],
      ["retry", { status: "completed" }, /^status:/],
      ["cancel", { status: "completed" }, /^status:/],
      ["purge", { status: "running" }, /^status:/],
      ["purge", { type: "ping", limit: 1001 }, /^limit:/],
      ["purge", { type: "ping", limit: 0 }, /^limit:/],
      ["retry", { type: "Bad Type!" }, /^type:/],
      ["retry", { created_before: "yesterday" }, /^created_before:/],
      ["retry", { error_contains: "" }, /^error_contains:/],
      ["retry", { type: "ping", cursor: "not-a-cursor!" }, /^cursor:/],
      ["retry", { type: "ping", colour: "red" }, /colour|unrecognized/i],
    ];
    for (const [action, body, message] of bad) {
      const res = await postJson(`/tasks/bulk/${action}`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await res.json<{ error: { code: string; message: string } }>()).error.message, JSON.stringify(body)).toMatch(message);
    }
    const notJson = await api("/tasks/bulk/retry", { method: "POST", headers: { "content-type": "application/json" }, body: "{" });
    expect(notJson.status).toBe(400);
  });
});

describe("POST /tasks/bulk/retry", () => {
  it("queues matching failed and cancelled tasks with a fresh set of attempts, an event each, and one wake-up", async () => {
    const domain = unique("retry");
    const failed = await seed(domain, "failed", 3, { error: "boom" });
    const cancelled = await seed(domain, "cancelled", 2);
    const completed = await seed(domain, "completed", 2);
    const queued = await seed(domain, "queued", 1);
    await sql("UPDATE tasks SET attempts = 3 WHERE domain = ?", domain);
    const { queue, sent } = recordingQueue();
    const res = await fetchWithEnv(
      new Request("http://localhost/api/v1/tasks/bulk/retry", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ domain }) }),
      { TASK_QUEUE: queue },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ affected: 5, next: null });
    expect(sent).toEqual([{ body: { kind: "wake", reason: "run" } }]);
    for (const id of [...failed, ...cancelled]) {
      expect(await getTask(id)).toMatchObject({ status: "queued", attempts: 0, error: null, runAfter: null });
      expect(await bulkEvents(id, "bulk retry")).toBe(1);
    }
    for (const id of [...completed, ...queued]) expect((await getTask(id)).attempts).toBe(3);
    expect(await statusesOf(domain)).toEqual({ queued: 6, completed: 2 });
  });

  it("touches at most `limit` per call; `next` goes on without skipping or repeating, and never reaches newer tasks", async () => {
    const domain = unique("pages");
    const t0 = Date.now() - 3_600_000;
    const ids = await seed(domain, "failed", 23, { createdAt: t0 });
    await seed(`${domain}-x`, "failed", 5, { createdAt: t0 }); // another domain, same times
    const first = await bulk("retry", { domain, limit: 4 });
    expect(first.affected).toBe(4);
    expect(first.next).not.toBeNull();
    // The four it took fail again, and newer failed tasks arrive: neither is touched by the rest of the walk.
    await sql("UPDATE tasks SET status = 'failed' WHERE domain = ? AND status = 'queued'", domain);
    const newer = await seed(domain, "failed", 3, { createdAt: Date.now() });
    const affected = [first.affected];
    let cursor = first.next;
    while (cursor) {
      const r = await bulk("retry", { domain, limit: 4, cursor });
      expect(r.affected).toBeLessThanOrEqual(4);
      affected.push(r.affected);
      cursor = r.next;
    }
    expect(affected).toEqual([4, 4, 4, 4, 4, 3]);
    for (const id of ids) expect(await bulkEvents(id, "bulk retry"), id).toBe(1);
    for (const id of newer) expect(await getTask(id)).toMatchObject({ status: "failed" });
    expect(await statusesOf(`${domain}-x`)).toEqual({ failed: 5 });
  });

  it("a window with nothing to touch still returns `next`; the walk ends with null", async () => {
    const domain = unique("window");
    // 25 candidates; only the oldest has the error. With limit 1 a call looks at 10 candidates.
    await seed(domain, "failed", 1, { error: "Upstream TIMEOUT after 30 s", createdAt: Date.now() - 100_000 });
    await seed(domain, "failed", 24, { error: "bad input", createdAt: Date.now() - 50_000 });
    expect(await bulkAll("retry", { domain, error_contains: "timeout", limit: 1 })).toEqual([0, 0, 1, 0]);
    expect(await statusesOf(domain)).toEqual({ failed: 24, queued: 1 });
  });

  it("filters by type, status and domain together, and by created_after (inclusive) and created_before (exclusive)", async () => {
    const domain = unique("filters");
    const t0 = Date.parse("2026-03-01T00:00:00.000Z");
    const a = await seed(domain, "failed", 4, { createdAt: t0, type: "kind.a" }); // t0 … t0+3
    await seed(domain, "cancelled", 2, { createdAt: t0, type: "kind.a" });
    await seed(domain, "failed", 2, { createdAt: t0, type: "kind.b" });
    const iso = (ms: number) => new Date(ms).toISOString();
    const r = await bulk("retry", { type: "kind.a", status: "failed", domain, created_after: iso(t0 + 1), created_before: iso(t0 + 3) });
    expect(r).toEqual({ affected: 2, next: null });
    expect((await Promise.all(a.map(getTask))).map((t) => t.status)).toEqual(["failed", "queued", "queued", "failed"]);
    expect(await bulk("retry", { type: "kind.a", domain })).toEqual({ affected: 4, next: null });
    expect(await statusesOf(domain)).toEqual({ queued: 6, failed: 2 });
  });
});

describe("POST /tasks/bulk/cancel", () => {
  it("cancels matching unfinished tasks with an event; a running task's late result is fenced out", async () => {
    const domain = unique("cancel");
    const [running] = await insertTasks([newTask({ domain, type: "bulk.running" })]);
    const claim = await claimDueTasks(db(), { token: "doomed-dispatcher", now: Date.now() + 1, leaseMs: 60_000, maxTasks: 1000, maxInputBytes: 1e9 });
    expect(claim.claimed.map((t) => t.id)).toContain(running!.row.id);
    // Put back everything else that claim took: only this test's task stays running.
    await sql("UPDATE tasks SET status = 'queued', locked_by = NULL WHERE locked_by = 'doomed-dispatcher' AND id != ?", running!.row.id);
    await seed(domain, "queued", 2);
    await seed(domain, "created", 1);
    await seed(domain, "retry", 1);
    await seed(domain, "completed", 2);

    expect(await bulk("cancel", { domain })).toEqual({ affected: 5, next: null });
    expect(await statusesOf(domain)).toEqual({ cancelled: 5, completed: 2 });
    expect(await getTask(running!.row.id)).toMatchObject({ status: "cancelled", lockedBy: null, leaseExpiresAt: null });
    expect(await bulkEvents(running!.row.id, "cancelled by bulk request")).toBe(1);

    const late = await recordOutcomes(db(), "doomed-dispatcher", [{ id: running!.row.id, status: "completed", result: { late: true }, error: null, run_after: null, message: "completed" }], Date.now(), new Set());
    expect(late.written).toEqual([]);
    expect(await getTask(running!.row.id)).toMatchObject({ status: "cancelled", result: null });
  });
});

describe("POST /tasks/bulk/purge", () => {
  it("deletes matching finished tasks only, counted as api|<status>|deleted and in seedcore_tasks_purged_total", async () => {
    const domain = unique("purge");
    const purged = () => api("/metrics").then((r) => r.text()).then((t) => sampleValue(parseMetrics(t), "seedcore_tasks_purged_total") ?? NaN);
    const before = await purged();
    const doomed = [...(await seed(domain, "completed", 3)), ...(await seed(domain, "failed", 2)), ...(await seed(domain, "cancelled", 1))];
    await seed(domain, "queued", 1);
    await seed(domain, "running", 1);
    await seed(domain, "created", 1);
    expect(await bulkAll("purge", { domain, limit: 4 })).toEqual([4, 2]);
    expect(await statusesOf(domain)).toEqual({ queued: 1, running: 1, created: 1 });
    for (const id of doomed) expect((await api(`/tasks/${id}`)).status).toBe(404);
    expect(await purged()).toBe(before + 6);
    const m = parseMetrics(await (await api("/metrics")).text());
    expect(sampleValue(m, "seedcore_task_transitions_total", { actor: "api", from: "failed", to: "deleted" })).toBeGreaterThanOrEqual(2);
  });
});

describe("bulk statements", () => {
  it("walk one index range in keyset order (no scan of tasks, no sort beyond the window) and stay within D1's limits", async () => {
    const log: RecordedStatement[] = [];
    const DB = recordingD1(env.DB, log);
    const t = new Date().toISOString();
    const filters = [
      { status: "failed" },
      { type: "ping" },
      { domain: "d" },
      { created_before: t },
      { created_after: t, created_before: t },
      { error_contains: "x" },
      { status: "failed", type: "ping", domain: "d", error_contains: "x", created_after: t },
      { type: "ping", domain: "d" },
    ];
    for (const action of ["retry", "cancel", "purge"]) {
      for (const filter of filters) {
        const body = { ...filter, ...(filter.status && action !== "retry" ? { status: action === "cancel" ? "queued" : "failed" } : {}), cursor: undefined, limit: 1000 };
        const res = await fetchWithEnv(
          new Request(`http://localhost/tasks/bulk/${action}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
          { DB },
        );
        expect(res.status).toBe(200);
      }
    }
    expect(d1Violations(log)).toEqual([]);
    expect(log.length).toBe(3 * filters.length * 3);
    for (const { sql: text, params } of log) {
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${text}`).bind(...params).all<{ detail: string }>();
      const plan = results.map((r) => r.detail).join("\n");
      // No scan of the table: the window is ranges of tasks_type_status_idx (per type and status)
      // or of the domain index, each cut by the window's LIMIT.
      expect(plan, `${text}\n${plan}`).not.toMatch(/^SCAN (tasks|t)\b/m);
      expect(plan, `${text}\n${plan}`).toMatch(/SEARCH tasks USING (COVERING )?INDEX (tasks_type_status_idx \(type=\? AND status=\?|tasks_domain_created_idx \(domain=\?)/);
      if (/DELETE|UPDATE|INSERT/.test(text)) expect(plan, `${text}\n${plan}`).toMatch(/SEARCH t USING (INTEGER PRIMARY KEY \(rowid=\?\)|INDEX sqlite_autoindex_tasks_1 \(id=\?\))/);
    }
  });
});
