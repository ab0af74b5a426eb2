import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { TaskEnvelope, TaskOutcome } from "../../src/organism/task-contracts";
import { openDb } from "../../src/store/db";
import { PARENT_READ_BUDGET_BYTES, withParentResults, type ParentView } from "../../src/store/parent-results";
import { batched, drain } from "../helpers/dispatch";
import { d1Violations, expectWithinLimits, limitQueue } from "../helpers/limits";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { getTask, insertTasks, newTask, settleOtherTasks } from "../helpers/tasks";

beforeEach(settleOtherTasks);

const PARENT_READ = "SELECT id, status, result, error FROM tasks WHERE id IN";
const reads = (log: RecordedStatement[]) => log.filter((s) => s.sql.includes(PARENT_READ)).length;

/** ≈ 62 KiB of params: test_task results echo them, so each parent returns about this much. */
const bigParams = (i: number) => ({ i, pad: "x".repeat(62 * 1024) });

describe("parents' results reach the child within D1's limits", () => {
  it.each([
    // Above production's 2,000,000-byte value limit, below the local runtime's ≈ 2.2 MB: only the recording shows it.
    [33, 100],
    // Above both: the claim itself failed locally, and every pass after it (issue 20).
    [45, 1000],
  ])("%i parents of ≈ 62 KiB each and one child, %i healthy tasks after it: all complete, no statement past a limit", { timeout: 120_000 }, async (nParents, nHealthy) => {
    const parents = await insertTasks(Array.from({ length: nParents }, (_, i) => newTask({ params: bigParams(i) })));
    const [child] = await insertTasks([newTask({ type: "ping", status: "created", depends_on: parents.map((p) => p.row.id) })]);
    const healthy = await insertTasks(Array.from({ length: nHealthy }, () => newTask({ type: "ping" })), Date.now() + 1);
    const seen: (Record<string, ParentView> | null)[] = [];
    const childParams: Record<string, unknown>[] = [];
    // The child's code gets its parents as ctx.task.parents (the claimed task's `parents`), its params as submitted.
    const run = batched(async (_pass: string, envelopes: TaskEnvelope[]): Promise<TaskOutcome[]> =>
      envelopes.map((e) => {
        if (e.id === child!.row.id) {
          seen.push(e.parents);
          childParams.push(e.params);
        } else expect(e.parents).toBeNull();
        return { id: e.id, ok: true, result: e.type === "test_task" ? { echo: e.params } : { pong: true } };
      }));
    const log: RecordedStatement[] = [];
    const { queue, sends } = limitQueue();
    const database = openDb(recordingD1(env.DB, log));
    const ids = [child!.row.id, ...healthy.map((t) => t.row.id)];
    for (let i = 0; i < 30; i++) {
      await drain({ db: database, queue, runTasks: run });
      const open = await env.DB.prepare("SELECT count(*) AS n FROM json_each(?) AS j CROSS JOIN tasks AS t ON t.id = j.value WHERE t.status <> 'completed'")
        .bind(JSON.stringify(ids))
        .first<{ n: number }>();
      if (open?.n === 0) break;
    }
    for (const t of healthy) expect((await getTask(t.row.id)).status).toBe("completed");
    expect(await getTask(child!.row.id)).toMatchObject({ status: "completed", attempts: 1 });
    expect(seen).toHaveLength(1);
    const received = seen[0]!;
    expect(childParams).toEqual([{}]);
    expect(Object.keys(received).sort()).toEqual(parents.map((p) => p.row.id).sort());
    for (const [i, p] of parents.entries()) {
      expect(received[p.row.id]).toMatchObject({ status: "completed", error: null, result: { echo: { i, pad: bigParams(i).pad } } });
    }
    // Stored params stay as submitted.
    expect((await getTask(child!.row.id)).params).toEqual({});
    expectWithinLimits(log, sends);
    // The one pass that claimed the child read its parents, once; passes without dependents never do.
    expect(reads(log)).toBe(1);
  });

  it("a statement that builds a value past D1's limit is a violation, even where the local runtime returns it", async () => {
    const log: RecordedStatement[] = [];
    const d1 = recordingD1(env.DB, log);
    await d1.prepare("SELECT hex(zeroblob(1000000)) AS at_limit").all();
    await d1.prepare("SELECT hex(zeroblob(1000001)) AS past_limit").all();
    expect(d1Violations(log)).toEqual([expect.stringMatching(/^a returned value of 2000002 bytes/)]);
  });

  it(`dependents are read in groups whose parents' bytes fit ${PARENT_READ_BUDGET_BYTES} bytes: at the budget one read, past it two`, async () => {
    const [parent] = await insertTasks([newTask({ status: "created" })]);
    const dependent = (input_bytes: number) => ({ params: { own: 1 }, depends_on: [parent!.row.id], input_bytes });
    const half = PARENT_READ_BUDGET_BYTES / 2;
    for (const [tasks, expected] of [
      [[dependent(Math.floor(half)), dependent(Math.ceil(half))], 1],
      [[dependent(Math.floor(half)), dependent(Math.ceil(half) + 1)], 2],
      [[{ params: { own: 1 }, depends_on: null, input_bytes: 10 }], 0],
    ] as const) {
      const log: RecordedStatement[] = [];
      const out = await withParentResults(openDb(recordingD1(env.DB, log)), [...tasks]);
      expect(reads(log)).toBe(expected);
      for (const [i, t] of out.entries()) {
        expect(t.params).toEqual({ own: 1 });
        if (tasks[i]!.depends_on === null) expect(t.parents).toBeNull();
        else expect(t.parents).toEqual({ [parent!.row.id]: { status: "created", result: null, error: null } });
      }
    }
  });
});
