import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { definedType } from "../helpers/task-types";
import { insertTasks, newTask } from "../helpers/tasks";
import { api, countRows, fetchWithEnv, postJson } from "../helpers/worker";

interface Task {
  id: string;
  status: string;
  type: string;
  domain: string | null;
  created_at: string;
}
interface Page {
  items: Task[];
  next_cursor: string | null;
}

/** A type of the test's own (defined, so submissions of it are accepted). */
const uniqueType = () => definedType(`list.${crypto.randomUUID().slice(0, 8)}`);

async function batch(tasks: unknown[]): Promise<Task[]> {
  const res = await postJson("/tasks/batch", { tasks });
  expect(res.status).toBe(201);
  return (await res.json<{ items: Task[] }>()).items;
}

async function page(query: string): Promise<Page> {
  const res = await api(`/tasks?${query}`);
  expect(res.status).toBe(200);
  return res.json<Page>();
}

/** Newest first, ties broken by id descending: the order the API promises. */
const newestFirst = (a: Task, b: Task) =>
  b.created_at.localeCompare(a.created_at) || (b.id < a.id ? -1 : b.id > a.id ? 1 : 0);

describe("GET /tasks", () => {
  it("filters by type, status and domain", async () => {
    const type = uniqueType();
    const [a, b, c] = await batch([
      { type, domain: "alpha", run_immediately: false },
      { type, domain: "beta", run_immediately: false },
      { type, domain: "alpha", run_immediately: false },
    ]);
    const byType = await page(`type=${type}`);
    expect(byType.items.map((t) => t.id).sort()).toEqual([a!.id, b!.id, c!.id].sort());
    expect(byType.next_cursor).toBeNull();

    const alpha = await page(`type=${type}&domain=alpha`);
    expect(alpha.items.map((t) => t.id).sort()).toEqual([a!.id, c!.id].sort());

    expect((await page(`type=${type}&status=created`)).items).toHaveLength(3);
    expect((await page(`type=${type}&status=queued`)).items).toHaveLength(0);
  });

  it("is served under /api/v1 too and defaults to 50 items", async () => {
    const res0 = await postJson("/tasks/batch", { tasks: Array.from({ length: 51 }, () => ({ type: uniqueType(), run_immediately: false })) });
    expect(res0.status).toBe(201);
    const res = await api("/api/v1/tasks");
    expect(res.status).toBe(200);
    const body = await res.json<Page>();
    expect(body.items.length).toBeLessThanOrEqual(50);
    expect(body.items).toHaveLength(50);
    expect(body.next_cursor).not.toBeNull();
  });

  it("pages newest first with a keyset cursor, without gaps or repeats", async () => {
    const type = uniqueType();
    const first = await batch(Array.from({ length: 3 }, () => ({ type, run_immediately: false })));
    const second = await batch(Array.from({ length: 2 }, () => ({ type, run_immediately: false })));
    const expected = [...first, ...second].sort(newestFirst).map((t) => t.id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const p: Page = await page(`type=${type}&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(p.items.length).toBeLessThanOrEqual(2);
      seen.push(...p.items.map((t) => t.id));
      cursor = p.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(expected);
  });

  it("pages through 300 tasks of one millisecond (three full batches) newest submitted first, each once", async () => {
    // The tasks of one millisecond come in rowid (submission) order, which every index entry ends in.
    // Three batches of MAX_BATCH_TASKS landing in the same millisecond make the group.
    const type = uniqueType();
    const now = Date.now();
    const rows = await insertTasks(Array.from({ length: 300 }, () => newTask({ type, status: "created" })), now);
    expect(new Set(rows.map((r) => r.row.createdAt))).toEqual(new Set([now]));
    const expected = rows.map((r) => r.row.id).reverse();
    for (const filter of [`type=${type}`, `type=${type}&status=created`]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const p: Page = await page(`${filter}&limit=70${cursor ? `&cursor=${cursor}` : ""}`);
        seen.push(...p.items.map((t) => t.id));
        cursor = p.next_cursor;
      } while (cursor);
      expect(seen).toEqual(expected);
    }
  });

  it("goes on from a cursor issued before 0014 (created_at and id), and repeats rather than skips when its row is gone", async () => {
    const type = uniqueType();
    const now = Date.now();
    const rows = await insertTasks(Array.from({ length: 6 }, () => newTask({ type, status: "created" })), now);
    const ids = rows.map((r) => r.row.id).reverse();
    const legacy = (id: string) => btoa(`${now}.${id}`).replaceAll("=", "");
    const p = await page(`type=${type}&limit=10&cursor=${legacy(ids[1]!)}`);
    expect(p.items.map((t) => t.id)).toEqual(ids.slice(2));
    await env.DB.prepare("DELETE FROM tasks WHERE id = ?").bind(ids[1]).run();
    const gone = await page(`type=${type}&limit=10&cursor=${legacy(ids[1]!)}`);
    expect(gone.items.map((t) => t.id)).toEqual([ids[0], ...ids.slice(2)]);
  });

  it("stays stable when tasks are inserted between pages", async () => {
    const type = uniqueType();
    const original = (await batch(Array.from({ length: 4 }, () => ({ type, run_immediately: false })))).sort(newestFirst);
    const p1 = await page(`type=${type}&limit=2`);
    expect(p1.items.map((t) => t.id)).toEqual(original.slice(0, 2).map((t) => t.id));

    await batch(Array.from({ length: 3 }, () => ({ type, run_immediately: false })));

    const p2 = await page(`type=${type}&limit=2&cursor=${p1.next_cursor}`);
    expect(p2.items.map((t) => t.id)).toEqual(original.slice(2).map((t) => t.id));
    expect(p2.next_cursor).toBeNull();
  });
});

describe("GET /tasks query plans", () => {
  it("every filter, with or without a cursor, reads ranges of a (…, created_at) index cut at the page size: no scan, no sort of all matches", async () => {
    const cursor = (await page("limit=1")).next_cursor;
    expect(cursor).not.toBeNull();
    const filters = ["", "status=completed", "type=ping", "domain=d", "status=failed&type=ping", "status=queued&domain=d", "type=ping&domain=d", "status=retry&type=ping&domain=d"];
    for (const f of filters) {
      for (const withCursor of [false, true]) {
        const log: RecordedStatement[] = [];
        const q = `limit=5&${f}${withCursor ? `&cursor=${cursor}` : ""}`;
        const res = await fetchWithEnv(new Request(`http://localhost/tasks?${q}`), { DB: recordingD1(env.DB, log) });
        expect(res.status).toBe(200);
        expect(log).toHaveLength(1);
        const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${log[0]!.sql}`).bind(...log[0]!.params).all<{ detail: string }>();
        const plan = results.map((r) => r.detail).join("\n");
        const cut = withCursor ? " AND created_at<\\?" : "";
        // By domain, one range of its index (or of the type and status one); otherwise one range of tasks_type_status_idx per type
        // and status, each cut at the page size (LIMIT), so the sorts merge at most types × statuses ×
        // (limit + 1) rows, never every match. The page's rows are then read by rowid.
        const byDomain = `(COVERING )?INDEX tasks_domain_created_idx \\(domain=\\?${cut}\\)`;
        // The cursor's (created_at, rowid) bound is a created_at range; ties sort by the rowid each entry ends in,
        // so the walk reads no row (COVERING): before 0014 it read each candidate to sort its ties by id.
        // One range per lane of a status (claim-lane.ts): `queued` is two.
        const byTypeStatus = `INDEX tasks_type_status_idx \\(type=\\? AND status=\\? AND lane=\\?${cut}\\)`;
        // With a domain and a type or status too, SQLite may walk either range in order (reading rows for the domain).
        const range = f === "domain=d" ? byDomain : f.includes("domain=") ? `(${byDomain}|${byTypeStatus})` : `COVERING ${byTypeStatus}`;
        expect(plan, q).toMatch(new RegExp(`^SEARCH tasks USING ${range}$`, "m"));
        expect(plan, q).not.toMatch(/^SCAN (tasks|t)\b/m);
        for (const line of plan.split("\n").filter((l) => /^(SEARCH|SCAN) (tasks|t)\b/.test(l))) {
          expect(line, q).toMatch(/tasks_type_status_idx|tasks_domain_created_idx|INTEGER PRIMARY KEY \(rowid=\?\)/);
        }
      }
    }
  });
});

describe("POST /tasks/batch", () => {
  it("creates every task in order and queues the immediate ones", async () => {
    const before = await countRows();
    const items = await batch([
      { type: "test_task", params: { n: 1 } },
      { type: "test_task", params: { n: 2 }, run_immediately: false },
      { type: "ping" },
    ]);
    expect(items.map((t) => [t.type, t.status])).toEqual([
      ["test_task", "queued"],
      ["test_task", "created"],
      ["ping", "queued"],
    ]);
    const after = await countRows();
    expect(after.tasks - before.tasks).toBe(3);
  });

  it("returns the existing task for a repeated idempotency key", async () => {
    const key = `batch-${crypto.randomUUID()}`;
    const [first] = await batch([{ type: "test_task", idempotency_key: key, run_immediately: false }]);
    const [again, other] = await batch([
      { type: "test_task", idempotency_key: key, run_immediately: false },
      { type: "test_task", run_immediately: false },
    ]);
    expect(again!.id).toBe(first!.id);
    expect(other!.id).not.toBe(first!.id);
  });

  it("accepts 100 tasks", async () => {
    const type = uniqueType();
    const items = await batch(Array.from({ length: 100 }, () => ({ type, run_immediately: false })));
    expect(new Set(items.map((t) => t.id)).size).toBe(100);
    expect((await page(`type=${type}&limit=200`)).items).toHaveLength(100);
  });

  it("names the index of a bad item and writes nothing", async () => {
    const type = uniqueType();
    // Only the task count: the queue consumer may still be writing events for earlier tests.
    const before = (await countRows()).tasks;
    const res = await postJson("/tasks/batch", { tasks: [{ type }, { type }, { type: "BAD TYPE" }] });
    expect(res.status).toBe(400);
    const body = await res.json<{ error: { code: string; message: string } }>();
    expect(body.error.code).toBe("validation_failed");
    expect(body.error.message).toMatch(/^tasks\.2\.type/);
    expect((await countRows()).tasks).toBe(before);
    expect((await page(`type=${type}`)).items).toHaveLength(0);
  });
});

describe("GET /tasks/{id}/status", () => {
  it("answers a small status view by full id or prefix", async () => {
    const [task] = await batch([{ type: "test_task", run_immediately: false }]);
    for (const ref of [task!.id, task!.id.slice(0, 8)]) {
      const res = await api(`/tasks/${ref}/status`);
      expect(res.status).toBe(200);
      const body = await res.json<Record<string, unknown>>();
      expect(body).toMatchObject({ id: task!.id, status: "created", attempts: 0, max_attempts: 3, error: null });
      expect(Object.keys(body).sort()).toEqual(["attempts", "error", "id", "max_attempts", "run_after", "status", "updated_at"]);
    }
  });

  it("404s an unknown task", async () => {
    const res = await api("/api/v1/tasks/00000000-0000-4000-8000-00000000dead/status");
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
  });
});
