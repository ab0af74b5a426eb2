import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { requireConfig } from "../../src/config";
import { followUpDeps } from "../../src/follow-ups";
import { runMaintenancePass } from "../../src/maintenance/maintenance-pass";
import type { TaskEnvelope, TaskOutcome } from "../../src/organism/task-contracts";
import { ROUND_EDGES } from "../../src/store/dependents";
import { batched, drain } from "../helpers/dispatch";
import { recordingQueue } from "../helpers/recording-queue";
import { db, insertTasks, newTask, settleOtherTasks } from "../helpers/tasks";

beforeEach(settleOtherTasks);

const config = requireConfig(env);
const ok = batched(async (_pass: string, envelopes: TaskEnvelope[]): Promise<TaskOutcome[]> => envelopes.map((e) => ({ id: e.id, ok: true, result: { n: 1 } })));

/** An id that sorts before every random one: the round meets this parent first. */
const firstId = () => `00000000${crypto.randomUUID().slice(8)}`;

/** Inserts children waiting on `parents` (each child on all of them), in batches of 100. */
async function children(n: number, parents: string[]): Promise<string[]> {
  const rows = await insertTasks(Array.from({ length: n }, () => newTask({ type: "ping", status: "created", depends_on: parents })));
  return rows.map((r) => r.row.id);
}

/** Per status, how many of `ids`; and how many were released (created → queued) other than once. */
async function tally(ids: string[]) {
  const { results } = await env.DB.prepare(
    `SELECT t.status, (SELECT count(*) FROM task_timeline AS e WHERE e.task_id = t.id AND e.from_status = 'created' AND e.to_status = 'queued') AS releases
     FROM json_each(?) AS j CROSS JOIN tasks AS t ON t.id = j.value`,
  )
    .bind(JSON.stringify(ids))
    .all<{ status: string; releases: number }>();
  const byStatus: Record<string, number> = {};
  for (const r of results) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  return { byStatus, releasedOtherThanOnce: results.filter((r) => r.releases !== 1).length };
}

/** Drains (tasks answered at once) until nothing is due; throws if `ids` are not all finished by then. */
async function runAll(ids: string[], maxDrains = 60): Promise<void> {
  for (let i = 0; i < maxDrains; i++) {
    await drain({ runTasks: ok });
    const { byStatus } = await tally(ids);
    if ((byStatus.completed ?? 0) === ids.length) return;
    if (!byStatus.queued && !byStatus.running && !byStatus.retry && i > 0) break;
  }
  throw new Error(`not all finished: ${JSON.stringify((await tally(ids)).byStatus)}`);
}

const maintenance = () =>
  runMaintenancePass({ db: db(), queue: recordingQueue().queue, config, now: Date.now, statementsUsed: () => 0, followUp: followUpDeps(env, db()) });

describe("every finished parent's edges are all visited", () => {
  it("P with 1,500 children and Q1…Q20 with one each, finishing in one batch: every child runs once (issue 20)", { timeout: 120_000 }, async () => {
    const [p] = await insertTasks([newTask({ id: firstId(), type: "ping" })]);
    const qs = (await insertTasks(Array.from({ length: 20 }, () => newTask({ type: "ping" })))).map((t) => t.row.id);
    const ofP = await children(1500, [p!.row.id]);
    const ofQ: string[] = [];
    for (const q of qs) ofQ.push(...(await children(1, [q])));
    expect(ofP.length).toBeGreaterThan(ROUND_EDGES);
    await runAll([...ofQ, ...ofP]);
    expect(await tally([...ofQ, ...ofP])).toEqual({ byStatus: { completed: 1520 }, releasedOtherThanOnce: 0 });
  });

  it("150 parents × 12 children finishing together: all 1,800 run once", { timeout: 120_000 }, async () => {
    const parents = (await insertTasks(Array.from({ length: 150 }, () => newTask({ type: "ping" })))).map((t) => t.row.id);
    const all: string[] = [];
    for (const parent of parents) all.push(...(await children(12, [parent])));
    await runAll(all);
    expect(await tally(all)).toEqual({ byStatus: { completed: 1800 }, releasedOtherThanOnce: 0 });
  });

  it("diamonds and chains finishing beside a wide parent: every task runs once", { timeout: 120_000 }, async () => {
    // A parent with more children than a round takes, then 60 diamonds (a → b, a → c, b + c → d)
    // and 60 chains of 5, all roots in one pass.
    const [wide] = await insertTasks([newTask({ id: firstId(), type: "ping" })]);
    const ids = await children(ROUND_EDGES + 100, [wide!.row.id]);
    for (let i = 0; i < 60; i++) {
      const [a] = await insertTasks([newTask({ type: "ping" })]);
      const [b, c] = await insertTasks([newTask({ type: "ping", status: "created", depends_on: [a!.row.id] }), newTask({ type: "ping", status: "created", depends_on: [a!.row.id] })]);
      const [d] = await insertTasks([newTask({ type: "ping", status: "created", depends_on: [b!.row.id, c!.row.id] })]);
      let previous = (await insertTasks([newTask({ type: "ping" })]))[0]!.row.id;
      ids.push(a!.row.id, b!.row.id, c!.row.id, d!.row.id, previous);
      for (let k = 0; k < 4; k++) {
        previous = (await insertTasks([newTask({ type: "ping", status: "created", depends_on: [previous] })]))[0]!.row.id;
        ids.push(previous);
      }
    }
    await runAll(ids);
    expect((await tally(ids)).byStatus).toEqual({ completed: ROUND_EDGES + 100 + 540 });
  });

  it("a chain of 300 whose root fails: the failure goes down every link, with the reason", { timeout: 120_000 }, async () => {
    const ids = Array.from({ length: 300 }, (_, i) => (i === 0 ? firstId() : crypto.randomUUID()));
    await insertTasks(ids.map((id, i) => newTask({ id, type: "ping", status: i === 0 ? "queued" : "created", depends_on: i === 0 ? null : [ids[i - 1]!], on_parent_failure: i === 0 ? null : "fail" })));
    const failRoot = batched(async (_pass: string, envelopes: TaskEnvelope[]): Promise<TaskOutcome[]> => envelopes.map((e) => ({ id: e.id, ok: false, retriable: false, error: "root broke" })));
    await drain({ runTasks: failRoot });
    // What the follow-up rounds did not reach, the alarm's rounds finish (not its backstop: that would be a bug).
    for (let i = 0; i < 5 && (await tally(ids)).byStatus.created; i++) expect(await maintenance()).toMatchObject({ dependents_rescued: 0 });
    expect((await tally(ids)).byStatus).toEqual({ failed: 300 });
    for (let i = 1; i < ids.length; i += 37) expect((await env.DB.prepare("SELECT error FROM tasks WHERE id = ?").bind(ids[i]).first<{ error: string }>())?.error).toMatch(new RegExp(`^parent ${ids[i - 1]} failed`));
  });

  it("5,000 children of one parent, the follow-up rounds lost (a crash): the alarm releases the rest, each once", { timeout: 180_000 }, async () => {
    const [p] = await insertTasks([newTask({ id: firstId(), type: "ping" })]);
    const kids = await children(5000, [p!.row.id]);
    // The parent's outcome commits with one round; the crash loses every follow-up round.
    await drain({ runTasks: ok, followUp: async () => 0 });
    const afterCrash = await tally(kids);
    expect(afterCrash.byStatus.created).toBeGreaterThan(0);
    expect(await maintenance()).toMatchObject({ dependents_rescued: 0 });
    await runAll(kids);
    expect(await tally(kids)).toEqual({ byStatus: { completed: 5000 }, releasedOtherThanOnce: 0 });
  });
});
