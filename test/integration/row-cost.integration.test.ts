import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { requireConfig } from "../../src/config";
import { pruneExpired } from "../../src/maintenance/retention";
import { createTasks, type NewTask } from "../../src/store/create-tasks";
import { openDb } from "../../src/store/db";
import { foldMinuteRollups } from "../../src/store/metrics-queries";
import { drain } from "../helpers/dispatch";
import { rowsCountingD1 } from "../helpers/rows-written-d1";
import { newTask } from "../helpers/tasks";

/**
 * What one task costs in D1 rows (D1's own meta.rows_written / rows_read, as the local runtime
 * reports them), end to end: submitted, claimed, run, its outcome recorded, then deleted by
 * retention. The ceilings pin the figures (issue 23: bulk 17.1 → 8.05, single 25 → 12), so a new index or trigger on the task path shows up
 * here; `npm run bench` prints the same figures (bench/README.md).
 */
type Stage = { submit: number; run: number; delete: number; total: number };

async function costPerTask(label: string, batches: NewTask[][]) {
  const { d1, totals } = rowsCountingD1();
  const db = openDb(d1);
  const ids = batches.flat().map((t) => t.id);
  const n = ids.length;
  for (const batch of batches) expect((await createTasks(db, batch, Date.now())).ok).toBe(true);
  const submitted = { ...totals };
  const finished = async () =>
    (await env.DB.prepare("SELECT count(*) AS n FROM tasks WHERE id IN (SELECT value FROM json_each(?)) AND status = 'completed'").bind(JSON.stringify(ids)).first<{ n: number }>())?.n;
  for (let i = 0; i < 10 && (await finished()) !== n; i++) await drain({ db });
  expect(await finished()).toBe(n);
  const ran = { ...totals };
  const later = Date.now() + 10 * 86_400_000;
  const config = { ...requireConfig(env), RETAIN_COMPLETED_S: 1 };
  const report = await pruneExpired({ db, config, now: () => later, statementsUsed: () => 0 });
  expect(report.pruned.completed).toBe(n);
  const deleted = { ...totals };
  // The maintenance alarm's fold of the minute's rollup rows: a cost per minute, not per task.
  await foldMinuteRollups(db, later, 0);
  const per = (a: number, b = 0) => Math.round(((a - b) / n) * 100) / 100;
  const written: Stage = { submit: per(submitted.written), run: per(ran.written, submitted.written), delete: per(deleted.written, ran.written), total: per(deleted.written) };
  const read: Stage = { submit: per(submitted.read), run: per(ran.read, submitted.read), delete: per(deleted.read, ran.read), total: per(deleted.read) };
  const fold = { written: totals.written - deleted.written, read: totals.read - deleted.read };
  console.log(`D1 rows per task [${label}] written ${JSON.stringify(written)} read ${JSON.stringify(read)} fold ${JSON.stringify(fold)}`);
  return { written, read, fold };
}

const ping = (overrides: Partial<NewTask> = {}) => newTask({ type: "ping", params: { n: 1 }, ...overrides });
const batchesOf = (tasks: NewTask[], size: number) => Array.from({ length: Math.ceil(tasks.length / size) }, (_, i) => tasks.slice(i * size, (i + 1) * size));

describe("D1 rows per task, submission to retention delete", () => {
  it("bulk: batches of 100", async () => {
    const { written } = await costPerTask("bulk", batchesOf(Array.from({ length: 200 }, () => ping()), 100));
    expect(written.total).toBeLessThanOrEqual(8.1);
    expect(written.total).toBeGreaterThan(3);
  });

  it("single: one task submitted and run on its own (POST /tasks), so no per-batch row is shared", async () => {
    const { written, fold } = await costPerTask("single", [[ping()]]);
    expect(written.total).toBeLessThanOrEqual(12);
    // Its minute's two rows (submitted, completed) folded: each added to an all-time row and a
    // `minute` row, then deleted; spread over every task of that minute.
    expect(fold.written).toBeLessThanOrEqual(6);
  });

  it("keyed: a concurrency key with a limit of 100", async () => {
    const tasks = Array.from({ length: 100 }, () => ping({ concurrency_key: "cost:k", concurrency_limit: 100 }));
    const { written } = await costPerTask("keyed", [tasks]);
    expect(written.total).toBeLessThanOrEqual(16.5);
  });

  it("dependent: 50 parents, each with one child (per task of the 100)", async () => {
    const parents = Array.from({ length: 50 }, () => ping());
    const children = parents.map((p) => ping({ status: "created", depends_on: [p.id], on_parent_failure: "fail" }));
    const { written } = await costPerTask("dependent", [[...parents, ...children]]);
    expect(written.total).toBeLessThanOrEqual(14.5);
  });

  it("escalated: a three-step decomposition with each step stored", async () => {
    const tasks = Array.from({ length: 30 }, () =>
      newTask({ type: "general_query", description: "what is 2+2?", drift_score: 1, params: { force_decomposition: true } }),
    );
    const { written } = await costPerTask("escalated", [tasks]);
    expect(written.total).toBeLessThanOrEqual(21);
  });
});
