import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { openDb } from "../../src/store/db";
import { dispatchBatch } from "../../src/dispatch/consumer";
import { ERROR_MAX_BYTES } from "../../src/dispatch/retry-policy";
import { batched, dispatchDeps, drain, wakeBatch } from "../helpers/dispatch";
import type { TaskOutcome } from "../../src/organism/task-contracts";
import { d1Violations } from "../helpers/limits";
import { productionD1, TOO_BIG } from "../helpers/production-d1";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { eventsOf, insertTasks, newTask, settleOtherTasks, sql } from "../helpers/tasks";

beforeEach(settleOtherTasks);

/** Stored params of this many bytes: over D1's 2,000,000-byte value limit, under the local runtime's ≈ 2.2 MB. */
const POISON_BYTES = 2_100_000;

/** Gives a task params over D1's limit, written by SQL (the API refuses them) as a stand-in for any value D1 refuses. */
async function poison(id: string): Promise<void> {
  await sql(`UPDATE tasks SET params = json_object('blob', substr(hex(zeroblob(?)), 1, ?)), input_bytes = ? WHERE id = ?`, POISON_BYTES / 2, POISON_BYTES - 11, POISON_BYTES, id);
}

async function statusesOf(domain: string): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare("SELECT status, count(*) AS n FROM tasks WHERE domain = ? GROUP BY status").bind(domain).all<{ status: string; n: number }>();
  return Object.fromEntries(results.map((r) => [r.status, r.n]));
}

describe("the production D1 wrapper", () => {
  it("refuses a transition that would return a value over the limit before it writes, and a bound value over it", async () => {
    const [task] = await insertTasks([newTask({ domain: "wrapper" })]);
    await poison(task!.row.id);
    const d1 = productionD1(env.DB);
    const claim = d1
      .prepare("UPDATE tasks SET status = 'running' FROM (SELECT id FROM tasks WHERE id = ?) AS c WHERE tasks.id = c.id RETURNING tasks.params AS params")
      .bind(task!.row.id);
    await expect(claim.all()).rejects.toThrow(TOO_BIG);
    await expect(d1.batch([claim])).rejects.toThrow(TOO_BIG);
    expect(await statusesOf("wrapper")).toEqual({ queued: 1 });
    await expect(d1.prepare("SELECT length(?) AS n").bind("x".repeat(2_000_001)).first()).rejects.toThrow(TOO_BIG);
    await expect(d1.prepare("SELECT params FROM tasks WHERE id = ?").bind(task!.row.id).all()).rejects.toThrow(TOO_BIG);
  });
});

describe("a task D1 refuses fails alone; the pass goes on with the rest", { timeout: 60_000 }, () => {
  it("a task whose claim D1 refuses is failed with the error, every healthy task completes, nothing is retried", async () => {
    const healthy = Array.from({ length: 40 }, () => newTask({ type: "ping", domain: "poisoned-claim" }));
    const bad = newTask({ type: "ping", domain: "poisoned-claim" });
    // The poisoned task among them: oldest of the batch, so every claim's first candidate until it is gone.
    await insertTasks([bad], Date.now() - 1000);
    await insertTasks(healthy);
    await poison(bad.id);

    const log: RecordedStatement[] = [];
    const db = openDb(recordingD1(productionD1(env.DB), log));
    await drain({ db });
    expect(await statusesOf("poisoned-claim")).toEqual({ completed: 40, failed: 1 });
    const row = await env.DB.prepare("SELECT status, attempts, error, locked_by FROM tasks WHERE id = ?").bind(bad.id).first();
    expect(row).toMatchObject({ status: "failed", attempts: 0, locked_by: null, error: `could not be claimed: ${TOO_BIG}` });
    expect((await eventsOf(bad.id)).map((e) => e.to_status)).toEqual(["queued", "failed"]);
    // Nothing oversized was bound (what the wrapper refused was never run).
    expect(d1Violations(log)).toEqual([]);
  });

  it("a poisoned task in the middle of the due tasks: the claim halves until it is alone, and it alone fails", async () => {
    const tasks = Array.from({ length: 60 }, () => newTask({ type: "ping", domain: "poisoned-middle" }));
    await insertTasks(tasks);
    const bad = tasks[29]!;
    await poison(bad.id);
    const log: RecordedStatement[] = [];
    await drain({ db: openDb(recordingD1(productionD1(env.DB), log)) });
    expect(await statusesOf("poisoned-middle")).toEqual({ completed: 59, failed: 1 });
    expect(await env.DB.prepare("SELECT error FROM tasks WHERE id = ?").bind(bad.id).first("error")).toBe(`could not be claimed: ${TOO_BIG}`);
    // A second drain finds nothing: the failed task is never claimed again.
    const again: RecordedStatement[] = [];
    await drain({ db: openDb(recordingD1(productionD1(env.DB), again)) });
    expect(again.filter((s) => /SET status = c\.to_status/.test(s.sql) && (s.rows ?? 0) > 0)).toEqual([]);
  });

  it("a claim failure no task explains (nothing due to blame) still fails the drain, so the wake-up is retried", async () => {
    await insertTasks([newTask({ type: "ping", domain: "d1-down" })]);
    const down = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "batch") return async () => Promise.reject(new Error("D1_ERROR: Network connection lost."));
        const value: unknown = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const batch = wakeBatch();
    const retried: unknown[] = [];
    for (const m of batch.messages) m.retry = (opts) => void retried.push(opts);
    await dispatchBatch(batch, dispatchDeps({ db: openDb(down) }));
    expect(retried).toHaveLength(1);
    expect(await statusesOf("d1-down")).toEqual({ queued: 1 });
  });

  it("a task another pass settles while its claim is being narrowed down is not blamed, and the drain goes on", async () => {
    const [task] = await insertTasks([newTask({ type: "ping", domain: "settled-meanwhile" })]);
    const id = task!.row.id;
    // Every claim fails; the claim of the task by id fails just after a concurrent request cancelled it.
    let claimById = false;
    const racing = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            const status = await env.DB.prepare("SELECT status FROM tasks WHERE id = ?").bind(id).first<string>("status");
            // A claim is the only batch of three statements.
            if (statements.length === 3 && status === "queued") {
              if (claimById) await sql("UPDATE tasks SET status = 'cancelled' WHERE id = ?", id);
              throw new Error("D1_ERROR: string or blob too big: SQLITE_TOOBIG");
            }
            return target.batch(statements);
          };
        }
        if (prop === "prepare") {
          return (query: string) => {
            if (/'claimed' AS message/.test(query) && / AND id = \?/.test(query)) claimById = true;
            return target.prepare(query);
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const batch = wakeBatch();
    const retried: unknown[] = [];
    for (const m of batch.messages) m.retry = (opts) => void retried.push(opts);
    await dispatchBatch(batch, dispatchDeps({ db: openDb(racing) }));
    expect(claimById).toBe(true);
    expect(retried).toEqual([]);
    expect(await statusesOf("settled-meanwhile")).toEqual({ cancelled: 1 });
  });
});

describe("whatever a task's code throws is stored within the limits", { timeout: 60_000 }, () => {
  it("a task failing with a 3 MB error message is retried with the error cut to ERROR_MAX_BYTES; the others of its pass complete", async () => {
    const tasks = Array.from({ length: 30 }, () => newTask({ type: "ping", domain: "huge-error" }));
    await insertTasks(tasks);
    const loud = tasks[7]!.id;
    const log: RecordedStatement[] = [];
    await drain({
      db: openDb(recordingD1(productionD1(env.DB), log)),
      runTasks: batched(async (_pass, claimed) =>
        claimed.map((t): TaskOutcome => (t.id === loud ? { id: t.id, ok: false, retriable: true, error: "x".repeat(3_000_000) } : { id: t.id, ok: true, result: { ok: 1 } }))),
    });
    expect(await statusesOf("huge-error")).toEqual({ completed: 29, retry: 1 });
    const row = await env.DB.prepare("SELECT status, error FROM tasks WHERE id = ?").bind(loud).first<{ status: string; error: string }>();
    expect(row?.status).toBe("retry");
    expect(row?.error).toMatch(/… \(3000000 bytes, cut\)$/);
    expect(new TextEncoder().encode(row?.error).length).toBeLessThanOrEqual(ERROR_MAX_BYTES);
    expect(d1Violations(log)).toEqual([]);
  });
});
