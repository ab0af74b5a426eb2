import type { Config } from "../config";
import type { TaskMessage } from "../dispatch/message";
import { AppError } from "../errors";
import type { FollowUpDeps } from "../follow-ups";
import { parseCron, planDueSlots } from "../lib/cron-slots";
import { D1_JSON_BUDGET_BYTES, D1_LIMITS, utf8Bytes, withMargin } from "../lib/platform-limits";
import { toIso } from "../lib/time";
import { scheduleTaskSchema } from "../schemas/schedule";
import { MAX_BATCH_TASKS } from "../schemas/task-api";
import type { TaskInput } from "../schemas/task";
import type { CreatedTask } from "../store/create-tasks";
import type { Db } from "../store/db";
import { advanceSchedule, dueSchedules, earliestNextRun, type RawSchedule } from "../store/schedules";
import { submitTasks } from "../submit-tasks";

export interface ScheduleDeps {
  db: Db;
  queue: Queue<TaskMessage>;
  config: Config;
  now: () => number;
  followUp: FollowUpDeps;
  /** D1 statements this invocation has run so far (see countStatements). */
  statementsUsed: () => number;
}

export interface ScheduleReport {
  /** Tasks created for slots this tick. */
  fired: number;
  skipped: number;
  /** When the alarm must fire next for a schedule (now, if due schedules were left for lack of budget). */
  nextAt: number | null;
}

/** Schedules looked at per tick, and the time they may take; the rest wait for the next tick (set to now). */
export const SCHEDULES_PER_TICK = 50;
export const SCHEDULE_BUDGET_MS = 5_000;
/** Half of what an invocation may run (D1_QUERIES_PER_INVOCATION), so the reaper after it always has its share. */
export const scheduleStatementBudget = (config: Pick<Config, "D1_QUERIES_PER_INVOCATION">): number => Math.floor(withMargin(config.D1_QUERIES_PER_INVOCATION) / 2);
/** The schedules' budget at Workers Paid's 1,000 queries. */
export const SCHEDULE_STATEMENT_BUDGET = scheduleStatementBudget({ D1_QUERIES_PER_INVOCATION: D1_LIMITS.queriesPerInvocation });
/** One submission of slots: the insert batch (3 statements) and the schedule's advance (2), with room. */
const STATEMENTS_PER_SUBMIT = 6;

/** The idempotency key of a slot's task: a slot never yields two tasks, whatever races or restarts. */
export const slotKey = (name: string, slot: number) => `schedule:${name}:${toIso(slot)}`;

/** Slots per submission: a batch must fit one D1 statement whatever the template's size. */
function slotsPerBatch(template: TaskInput): number {
  return Math.max(1, Math.min(MAX_BATCH_TASKS, Math.floor(D1_JSON_BUDGET_BYTES / (utf8Bytes(JSON.stringify(template)) + 1024))));
}

/**
 * Submits one task per slot, batch after batch while the statement budget lasts; returns the
 * tasks and how many slots it got through. A slot another pass already fired comes back as its
 * existing task (same key, same body); a key reused with another body (the template changed in
 * between) means that slot already has its task, so it is not fired again.
 */
async function submitSlots(name: string, template: TaskInput, slots: number[], deps: ScheduleDeps): Promise<{ tasks: CreatedTask[]; done: number }> {
  const out: CreatedTask[] = [];
  const size = slotsPerBatch(template);
  let i = 0;
  for (; i < slots.length; i += size) {
    if (deps.statementsUsed() + STATEMENTS_PER_SUBMIT > scheduleStatementBudget(deps.config)) break;
    const inputs = slots.slice(i, i + size).map((slot) => ({ ...template, idempotency_key: slotKey(name, slot) }));
    const submit = { db: deps.db, queue: deps.queue, config: deps.config, now: deps.now(), followUp: deps.followUp };
    try {
      out.push(...(await submitTasks(inputs, submit)));
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== "idempotency_conflict") throw err;
      for (const input of inputs) {
        out.push(...(await submitTasks([input], submit).catch((e: unknown) => (e instanceof AppError && e.code === "idempotency_conflict" ? [] : Promise.reject(e)))));
      }
    }
  }
  return { tasks: out, done: Math.min(i, slots.length) };
}

async function fireSchedule(s: RawSchedule, deps: ScheduleDeps): Promise<{ fired: number; skipped: number; finished: boolean }> {
  const now = deps.now();
  const parsed = parseCron(s.cron, s.timezone);
  const template = scheduleTaskSchema.safeParse(JSON.parse(s.task));
  if (!parsed.ok || !template.success || s.next_run_at === null) {
    // Stored definitions were validated on the way in; one that no longer parses must not stop the others.
    console.error(`schedule ${s.name} cannot fire: ${parsed.ok ? "its task no longer validates" : parsed.message}`);
    await advanceSchedule(deps.db, s.name, { from: s.next_run_at ?? 0, next: null, lastRunAt: null, lastTaskId: null, fired: 0, skipped: 0 }, now);
    return { fired: 0, skipped: 0, finished: true };
  }
  const plan = planDueSlots(parsed.cron, {
    from: s.next_run_at,
    now,
    graceMs: deps.config.SCHEDULE_GRACE_S * 1000,
    missed: s.missed,
    maxCatchup: s.max_catchup,
  });
  const { tasks, done } = await submitSlots(s.name, template.data, plan.fire, deps);
  const fired = tasks.filter((t) => t.created).length;
  // Out of budget mid-way: the schedule moves to its first unfired slot and the next tick (soon) goes on.
  const finished = done === plan.fire.length;
  const moved = await advanceSchedule(
    deps.db,
    s.name,
    {
      from: s.next_run_at,
      next: finished ? plan.next : (plan.fire[done] ?? plan.next),
      lastRunAt: plan.fire[done - 1] ?? null,
      lastTaskId: tasks.at(-1)?.row.id ?? null,
      fired,
      skipped: plan.skipped,
    },
    deps.now(),
  );
  return moved ? { fired, skipped: plan.skipped, finished } : { fired: 0, skipped: 0, finished: true };
}

/** Fires every schedule whose next slot has come, within the tick's budget. */
export async function fireDueSchedules(deps: ScheduleDeps): Promise<ScheduleReport> {
  const started = deps.now();
  const report: ScheduleReport = { fired: 0, skipped: 0, nextAt: null };
  const due = await dueSchedules(deps.db, started, SCHEDULES_PER_TICK);
  let left = due.length === SCHEDULES_PER_TICK;
  for (const s of due) {
    if (deps.now() - started > SCHEDULE_BUDGET_MS || deps.statementsUsed() + STATEMENTS_PER_SUBMIT > scheduleStatementBudget(deps.config)) {
      left = true;
      break;
    }
    try {
      const r = await fireSchedule(s, deps);
      report.fired += r.fired;
      report.skipped += r.skipped;
      if (!r.finished) left = true;
    } catch (err) {
      // One schedule's failure (D1 hiccup, a refused template) must not hold up the others; its slot stays due.
      console.error(`schedule ${s.name} failed to fire; the next tick tries again`, err);
    }
  }
  report.nextAt = left ? deps.now() : await earliestNextRun(deps.db, started);
  return report;
}
