import { describe, expect, it } from "vitest";
import { api, countRows } from "../helpers/worker";

/** One bad request: `body` is sent as JSON, `raw` as-is (for text JSON.stringify cannot make). */
interface Case {
  name: string;
  path: string;
  method?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  status: number;
  /** A fragment the error message must contain (e.g. the field or index it names). */
  names?: string;
}

const task = (extra: Record<string, unknown>) => ({ type: "test_task", run_immediately: false, ...extra });
const post = (c: Omit<Case, "path" | "method" | "status"> & { status?: number; path?: string }): Case => ({
  path: "/tasks",
  method: "POST",
  status: 400,
  ...c,
});
const get = (name: string, path: string, status = 400, names?: string): Case => ({ name, path, status, ...(names ? { names } : {}) });
const b64url = (s: string) => btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
const UUID = "3f2a9c1e-0000-4000-8000-000000000000";

const CASES: Case[] = [
  // malformed bodies
  post({ name: "invalid JSON", raw: '{"type":' }),
  post({ name: "empty body", raw: "" }),
  post({ name: "JSON null", raw: "null" }),
  post({ name: "array where the task object belongs", body: [task({})] }),
  post({ name: "a bare string", body: "test_task" }),
  post({ name: "a bare number", raw: "42" }),
  post({ name: "JSON with a trailing comma", raw: '{"type":"test_task",}' }),
  post({ name: "JSON sent as text/plain", raw: '{"type":"test_task"}', headers: { "content-type": "text/plain" }, status: 415 }),
  // type
  post({ name: "missing type", body: { description: "x" }, names: "type" }),
  post({ name: "type as a number", body: task({ type: 5 }), names: "type" }),
  post({ name: "empty type", body: task({ type: "" }), names: "type" }),
  post({ name: "type of 65 chars", body: task({ type: "a".repeat(65) }), names: "type" }),
  post({ name: "uppercase type", body: task({ type: "General_Query" }), names: "type" }),
  post({ name: "unicode type", body: task({ type: "tâche" }), names: "type" }),
  post({ name: "emoji type", body: task({ type: "task🚀" }), names: "type" }),
  post({ name: "NUL in type", body: task({ type: "test\u0000task" }), names: "type" }),
  post({ name: "newline in type", body: task({ type: "test\ntask" }), names: "type" }),
  post({ name: "right-to-left override in type", body: task({ type: "test\u202etask" }), names: "type" }),
  post({ name: "SQL in type", body: task({ type: "x'); DROP TABLE tasks;--" }), names: "type" }),
  // description, domain
  post({ name: "description as a number", body: task({ description: 7 }), names: "description" }),
  post({ name: "description over 4 KiB", body: task({ description: "d".repeat(4097) }), names: "description" }),
  post({ name: "description over 4 KiB of UTF-8 in fewer chars", body: task({ description: "€".repeat(1400) }), names: "description" }),
  post({ name: "empty domain", body: task({ domain: "" }), names: "domain" }),
  post({ name: "domain of 65 chars", body: task({ domain: "d".repeat(65) }), names: "domain" }),
  post({ name: "domain as an array", body: task({ domain: ["a"] }), names: "domain" }),
  // drift_score
  post({ name: "drift_score as a string", body: task({ drift_score: "0.5" }), names: "drift_score" }),
  post({ name: "drift_score below 0", body: task({ drift_score: -0.1 }), names: "drift_score" }),
  post({ name: "drift_score above 1", body: task({ drift_score: 1.5 }), names: "drift_score" }),
  post({ name: "drift_score 1e999 (Infinity)", raw: '{"type":"test_task","drift_score":1e999}', names: "drift_score" }),
  post({ name: "drift_score -1e999", raw: '{"type":"test_task","drift_score":-1e999}', names: "drift_score" }),
  // params
  post({ name: "params as an array", body: task({ params: [1, 2] }), names: "params" }),
  post({ name: "params as a string", body: task({ params: "{}" }), names: "params" }),
  post({ name: "params null", body: task({ params: null }), names: "params" }),
  post({ name: "params over 64 KiB", body: task({ params: { blob: "p".repeat(70 * 1024) } }), names: "params" }),
  post({ name: "1e999 inside params", raw: '{"type":"test_task","params":{"n":[1,1e999]}}', names: "params" }),
  post({ name: "params nested 40 deep", raw: `{"type":"test_task","params":{"a":${nested(40)}}}`, names: "params" }),
  post({ name: "params nested 100,000 deep", raw: `{"type":"test_task","params":{"a":${nested(100_000)}}}` }),
  // the other fields
  post({ name: "run_immediately as a string", body: task({ run_immediately: "yes" }), names: "run_immediately" }),
  post({ name: "run_after not ISO-8601", body: task({ run_after: "tomorrow" }), names: "run_after" }),
  post({ name: "run_after as epoch ms", body: task({ run_after: 1_700_000_000_000 }), names: "run_after" }),
  post({ name: "max_attempts 0", body: task({ max_attempts: 0 }), names: "max_attempts" }),
  post({ name: "max_attempts 21", body: task({ max_attempts: 21 }), names: "max_attempts" }),
  post({ name: "max_attempts 1.5", body: task({ max_attempts: 1.5 }), names: "max_attempts" }),
  post({ name: "max_attempts 1e999", raw: '{"type":"test_task","max_attempts":1e999}', names: "max_attempts" }),
  post({ name: "empty idempotency_key", body: task({ idempotency_key: "" }), names: "idempotency_key" }),
  post({ name: "idempotency_key of 129 chars", body: task({ idempotency_key: "k".repeat(129) }), names: "idempotency_key" }),
  post({ name: "Idempotency-Key header of 129 chars", body: task({}), headers: { "idempotency-key": "k".repeat(129) } }),
  post({ name: "header and field keys differ", body: task({ idempotency_key: "a" }), headers: { "idempotency-key": "b" } }),
  post({ name: "unknown field", body: task({ priority: "high" }) }),
  post({ name: "__proto__ field", raw: '{"type":"test_task","__proto__":{"admin":true}}' }),
  post({ name: "body over 256 KiB", body: task({ description: "x".repeat(300 * 1024) }), status: 413 }),
  // batch
  post({ name: "empty batch", path: "/tasks/batch", body: { tasks: [] }, names: "tasks" }),
  post({ name: "batch of 101", path: "/tasks/batch", body: { tasks: Array.from({ length: 101 }, () => task({})) }, names: "tasks" }),
  post({ name: "batch without tasks", path: "/tasks/batch", body: {}, names: "tasks" }),
  post({ name: "batch tasks as an object", path: "/tasks/batch", body: { tasks: task({}) }, names: "tasks" }),
  post({ name: "batch body as an array", path: "/tasks/batch", body: [task({})] }),
  post({ name: "batch with one bad item names its index", path: "/tasks/batch", body: { tasks: [task({}), task({}), task({}), task({ drift_score: 2 })] }, names: "tasks.3.drift_score" }),
  post({ name: "batch item that is an array", path: "/tasks/batch", body: { tasks: [task({}), [task({})]] }, names: "tasks.1" }),
  post({ name: "batch with an unknown top-level field", path: "/tasks/batch", body: { tasks: [task({})], all: true } }),
  post({ name: "batch invalid JSON", path: "/tasks/batch", raw: '{"tasks":[{"type":"test_task"}' }),
  post({ name: "batch with an Idempotency-Key header (each item has its own key)", path: "/tasks/batch", body: { tasks: [task({})] }, headers: { "idempotency-key": "order-42" }, names: "tasks.<i>.idempotency_key" }),
  post({ name: "batch with an empty Idempotency-Key header", path: "/tasks/batch", body: { tasks: [task({ idempotency_key: "k" })] }, headers: { "idempotency-key": "" }, names: "idempotency_key" }),
  post({ name: "batch over 256 KiB", path: "/tasks/batch", body: { tasks: Array.from({ length: 80 }, () => task({ description: "x".repeat(4000) })) }, status: 413 }),
  // list query values
  get("limit=0", "/tasks?limit=0", 400, "limit"),
  get("limit=500", "/tasks?limit=500", 400, "limit"),
  get("limit=-1", "/tasks?limit=-1", 400, "limit"),
  get("limit=abc", "/tasks?limit=abc", 400, "limit"),
  get("limit=1.5", "/tasks?limit=1.5", 400, "limit"),
  get("limit empty", "/tasks?limit=", 400, "limit"),
  get("limit=Infinity", "/tasks?limit=Infinity", 400, "limit"),
  get("limit twice", "/tasks?limit=1&limit=2", 400, "limit"),
  get("status=bogus", "/tasks?status=bogus", 400, "status"),
  get("status in capitals", "/tasks?status=COMPLETED", 400, "status"),
  get("type with a space", "/tasks?type=Bad%20Type", 400, "type"),
  get("type with SQL", "/tasks?type=%27%20OR%201%3D1--", 400, "type"),
  get("empty domain", "/tasks?domain=", 400, "domain"),
  get("unknown query parameter", "/tasks?sort=asc"),
  // cursors
  get("cursor with non-base64url characters", "/tasks?cursor=!!!", 400, "cursor"),
  get("cursor of random text", `/tasks?cursor=${b64url("hello world")}`, 400, "cursor"),
  get("cursor with a bad id", `/tasks?cursor=${b64url("1700000000000.not-a-uuid")}`, 400, "cursor"),
  get("cursor with a negative time", `/tasks?cursor=${b64url(`-5.${UUID}`)}`, 400, "cursor"),
  get("cursor with SQL", `/tasks?cursor=${b64url(`1' OR '1'='1.${UUID}`)}`, 400, "cursor"),
  get("cursor too long", `/tasks?cursor=${"A".repeat(300)}`, 400, "cursor"),
  get("empty cursor", "/tasks?cursor=", 400, "cursor"),
  // task ids
  get("id with %", "/tasks/abcd%25", 400),
  get("raw % in id", "/tasks/%/status", 400),
  get("id with _", "/tasks/ab_cd/events", 400),
  get("id of underscores (LIKE wildcards)", "/tasks/____", 400),
  get("id with a quote", "/tasks/abcd'", 400),
  get("id with double quotes", '/tasks/"abcd"', 400),
  get("id with SQL", "/tasks/abcd'%20OR%20'1'='1", 400),
  get("id with NUL", "/tasks/abcd%00/status", 400),
  get("non-hex id", "/tasks/zzzz", 400),
  get("too-short prefix", "/tasks/abc", 400),
  get("too-short prefix with dashes", "/tasks/a-b-c-", 400),
  get("id longer than a UUID", `/tasks/${UUID}0`, 400),
  { name: "cancel with a quoted id", path: "/tasks/abcd'/cancel", method: "POST", status: 400 },
  { name: "run with a wildcard id", path: "/tasks/ab%25cd/run", method: "POST", status: 400 },
  get("unknown task", `/tasks/${UUID}`, 404),
  // routes
  get("unknown route", "/nope", 404),
  { name: "wrong method", path: "/tasks/batch", method: "GET", status: 400 },
  { name: "DELETE /tasks", path: "/tasks", method: "DELETE", status: 404 },
  { name: "organism handle-task with invalid JSON", path: "/organism/handle-task", method: "POST", raw: "{", status: 400 },
  { name: "organism handle-task with 1e999", path: "/organism/handle-task", method: "POST", raw: '{"task_type":"ping","drift_score":1e999}', status: 400 },
];

describe("bad input: 4xx with the error shape, D1 unchanged", () => {
  it("has at least 40 cases", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  for (const c of CASES) {
    it(`${c.method ?? "GET"} ${c.path.slice(0, 60)}: ${c.name} → ${c.status}`, async () => {
      const before = await countRows();
      const body = c.raw ?? (c.body === undefined ? undefined : JSON.stringify(c.body));
      const res = await api(c.path, {
        method: c.method ?? "GET",
        headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...c.headers },
        ...(body === undefined ? {} : { body }),
      });
      const json = await res.json<{ error: { code: string; message: string } }>();
      expect({ status: res.status, json }).toMatchObject({
        status: c.status,
        json: { error: { code: expect.any(String), message: expect.any(String) } },
      });
      if (c.names) expect(json.error.message).toContain(c.names);
      expect(await countRows()).toEqual(before);
    });
  }
});
