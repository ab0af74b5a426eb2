import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { claimDueTasks } from "../../src/store/claim-due-tasks";
import { requireConfig } from "../../src/config";
import { followUpDeps } from "../../src/follow-ups";
import { maintenanceStatementBudget, runMaintenancePass } from "../../src/maintenance/maintenance-pass";
import { FOLD_STATEMENTS, foldMinuteRollups, readMetricsSnapshot, type MetricsSnapshot } from "../../src/store/metrics-queries";
import { reapExpiredLeases } from "../../src/store/reap-expired-leases";
import { FIRST_MINUTE_BUCKET, MINUTE_SLOTS } from "../../src/store/rollup-buckets";
import { recordingQueue } from "../helpers/recording-queue";
import { db, insertTasks, newTask } from "../helpers/tasks";

const config = requireConfig(env);

const MINUTE = 60_000;

/** What a snapshot shows, in an order that does not depend on where the rows sit in the table. */
const shown = ({ dbSizeBytes: _, transitions, ...rest }: MetricsSnapshot) => ({
  ...rest,
  transitions: [...transitions].sort((a, b) => `${a.actor}|${a.from_status}|${a.to_status}`.localeCompare(`${b.actor}|${b.from_status}|${b.to_status}`)),
});
const minuteRows = async () =>
  (await env.DB.prepare("SELECT count(*) AS n FROM rollups WHERE metric = 'transition' AND bucket >= ?").bind(FIRST_MINUTE_BUCKET).first<{ n: number }>())!.n;

/**
 * Issue 23: a submission's and an outcome's rollup row is its minute's, so one row carries the
 * counts and the per-minute throughput; the maintenance alarm folds past minutes into the
 * all-time rows and the `minute` rows, and no figure a reader shows changes by it.
 */
describe("per-minute transition rows and their fold", () => {
  it("every figure reads the same before and after a fold, which leaves only the current minute's rows", async () => {
    const m = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE;
    const t0 = m + 5_000;
    await insertTasks([...Array.from({ length: 3 }, () => newTask({ type: "fold-a" })), ...Array.from({ length: 2 }, () => newTask({ type: "fold-b" }))], t0);
    const { claimed } = await claimDueTasks(db(), { token: "fold", now: t0 + 1_000, leaseMs: 1_000, maxTasks: 10, maxInputBytes: 4e6 });
    expect(claimed).toHaveLength(5);
    // Lost leases: five outcomes (running → retry), each with its run time.
    expect((await reapExpiredLeases(db(), t0 + 2_500, 10)).reaped).toHaveLength(5);
    const since = m - MINUTE;
    const before = await readMetricsSnapshot(db(), since);
    expect(before.throughput.find((x) => x.minute === m)).toEqual({ minute: m, submitted: 5, completed: 0, failed: 0, retried: 5 });
    // Every type's rows of a histogram bucket add up: all five waited 1 s and ran 1.5 s.
    expect(before.queueWait.cumulative.at(-1)).toBe(before.queueWait.count);
    expect(before.queueWait.cumulative[DURATION_INDEX_1S]).toBe(5);
    expect(before.runTime.cumulative.at(-1)).toBe(before.runTime.count);
    expect(await minuteRows()).toBeGreaterThan(0);

    const now = Date.now();
    await foldMinuteRollups(db(), now, 0);
    const after = await readMetricsSnapshot(db(), since);
    expect(shown(after)).toEqual(shown(before));
    const current = Math.floor(now / MINUTE);
    const left = await env.DB.prepare("SELECT bucket FROM rollups WHERE metric = 'transition' AND bucket >= ?").bind(FIRST_MINUTE_BUCKET).all<{ bucket: number }>();
    for (const r of left.results) expect(Math.floor(r.bucket / MINUTE_SLOTS)).toBe(current);
    const kinds = await env.DB.prepare("SELECT label, n FROM rollups WHERE metric = 'minute' AND bucket = ? ORDER BY label").bind(m).all<{ label: string; n: number }>();
    expect(kinds.results).toEqual([{ label: "retry", n: 5 }, { label: "submitted", n: 5 }]);

    // A second fold finds nothing to move.
    await foldMinuteRollups(db(), now, 0);
    const again = await readMetricsSnapshot(db(), since);
    expect(shown(again)).toEqual(shown(after));
  });

  it("runs in the maintenance pass, which leaves the fold to the next tick when its statement budget is spent", async () => {
    const m = Math.floor(Date.now() / MINUTE) * MINUTE - 5 * MINUTE;
    await insertTasks([newTask({ type: "fold-pass" })], m + 1_000);
    const rowsOfMinute = async () =>
      (await env.DB.prepare("SELECT count(*) AS n FROM rollups WHERE metric = 'transition' AND bucket >= ? AND bucket < ?").bind((m / MINUTE) * MINUTE_SLOTS, (m / MINUTE + 1) * MINUTE_SLOTS).first<{ n: number }>())!.n;
    expect(await rowsOfMinute()).toBe(1);
    const pass = (used: number) =>
      runMaintenancePass({ db: db(), queue: recordingQueue().queue, config, now: Date.now, statementsUsed: () => used, followUp: followUpDeps(env, db()) });
    await pass(maintenanceStatementBudget(config) - FOLD_STATEMENTS + 1);
    expect(await rowsOfMinute()).toBe(1);
    expect((await readMetricsSnapshot(db(), m)).throughput.find((x) => x.minute === m)?.submitted).toBe(1);
    await pass(maintenanceStatementBudget(config) - FOLD_STATEMENTS);
    expect(await rowsOfMinute()).toBe(0);
    expect((await readMetricsSnapshot(db(), m)).throughput.find((x) => x.minute === m)?.submitted).toBe(1);
  });

  it("drops `minute` rows older than the retention, and only those", async () => {
    await env.DB.prepare("INSERT INTO rollups (metric, bucket, label, n) VALUES ('minute', 60000, 'submitted', 1), ('minute', 120000, 'submitted', 1)").run();
    await foldMinuteRollups(db(), Date.now(), 100_000);
    const { results } = await env.DB.prepare("SELECT bucket FROM rollups WHERE metric = 'minute' AND bucket < 1000000").all<{ bucket: number }>();
    expect(results).toEqual([{ bucket: 120000 }]);
  });
});

/** The histogram bucket of 1 s (DURATION_BOUNDS_MS: 10, 50, 100, 250, 500, 1000 …): waits of 1 s count there. */
const DURATION_INDEX_1S = 5;
