import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { requireConfig } from "../../src/config";
import { pruneExpired } from "../../src/maintenance/retention";
import { createTasks } from "../../src/store/create-tasks";
import { openDb } from "../../src/store/db";
import { drain } from "../helpers/dispatch";
import { rowsCountingD1 } from "../helpers/rows-written-d1";
import { newTask } from "../helpers/tasks";

/**
 * What one task costs in D1 rows written (D1's own meta.rows_written: index entries and trigger
 * writes included), end to end on the bulk path: a batch of 100 submitted, claimed, run, its
 * outcome recorded, then deleted by retention. The ceiling pins it, so a new index or trigger on
 * the task path shows up here; the figure is the README's (Free plan, cost).
 */
/** Submits `n` tasks in one batch, drains, deletes them by retention; rows written per task at each stage. */
async function rowsPerTask(n: number, now: number) {
  const { d1, totals } = rowsCountingD1();
  const db = openDb(d1);
  {
    const created = await createTasks(db, Array.from({ length: n }, () => newTask({ type: "ping", params: { n: 1 } })), now);
    expect(created.ok).toBe(true);
    const submitted = totals.written;
    await drain({ db });
    const ran = totals.written - submitted;
    const statuses = await env.DB.prepare("SELECT count(*) AS n FROM tasks WHERE status = 'completed'").first<{ n: number }>();
    expect(statuses?.n).toBe(n);
    const later = now + 10 * 86_400_000;
    const config = { ...requireConfig(env), RETAIN_COMPLETED_S: 1 };
    const report = await pruneExpired({ db, config, now: () => later, statementsUsed: () => 0 });
    expect(report.pruned.completed).toBe(n);
    const deleted = totals.written - submitted - ran;
    const perTask = { submit: submitted / n, run: ran / n, delete: deleted / n, total: totals.written / n };
    console.log(`rows written per task, batch of ${n}: ${JSON.stringify(perTask)}`);
    return perTask;
  }
}

describe("rows written per task", () => {
  it("bulk path (batches of 100), submission to retention delete", async () => {
    const perTask = await rowsPerTask(100, Date.now());
    expect(perTask.total).toBeLessThanOrEqual(18);
    expect(perTask.total).toBeGreaterThan(3);
  });

  it("one task at a time (POST /tasks): the per-batch rollup rows are not shared", async () => {
    const perTask = await rowsPerTask(1, Date.now());
    expect(perTask.total).toBeLessThanOrEqual(40);
    expect(perTask.total).toBeGreaterThan(3);
  });
});
