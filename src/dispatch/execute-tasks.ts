import type { Decide } from "../clients/organism-client";
import type { RunControl } from "../clients/control-tasks";
import type { Config } from "../config";
import { CircuitOpenError } from "../lib/circuit-breaker";
import { errorMessage } from "../lib/error-message";
import { settleWithin } from "../lib/timeout";
import type { DecideResult, Decision, PassReport } from "../organism/decisions";
import type { TaskEnvelope, TaskOutcome } from "../organism/task-contracts";
import type { OrganCall } from "./organ-calls";
import { PassTally } from "./pass-tally";
import { runFast } from "./run-fast";
import { runPlans, type PlanStore } from "./run-plans";

export interface ExecuteDeps {
  config: Config;
  decide: Decide;
  call: OrganCall;
  control: RunControl;
  /** Best effort; bounded by the caller. */
  report: (report: PassReport) => Promise<void>;
  plans: PlanStore;
  now: () => number;
}

/** Long enough for a coordinator that is up; a lost report costs only counters. */
const REPORT_WAIT_MS = 2000;

type Of<K extends Decision["kind"]> = Extract<Decision, { kind: K }>;

/** The coordinator could not decide: nothing ran, so every task comes back with its attempt. */
function notDecided(tasks: readonly TaskEnvelope[], err: unknown): TaskOutcome[] {
  const error = `coordinator unavailable: ${errorMessage(err)}`;
  const retryAfter = err instanceof CircuitOpenError ? { retryAfterMs: err.retryAfterMs } : {};
  return tasks.map((t) => ({ id: t.id, ok: false, retriable: true, notRun: true, error, ...retryAfter }));
}

function refusedOutcome(task: TaskEnvelope, d: Of<"refused">): TaskOutcome {
  return { id: task.id, ok: false, retriable: d.retriable, error: d.error, ...(d.not_run ? { notRun: true as const } : {}) };
}

/**
 * The one way tasks run (a dispatcher pass, /organism/handle-task): one short `decide` call to
 * the coordinator, then the organs directly — one RPC per replica for the fast path, durable
 * plans for escalations, the coordinator's typed methods for read-only control — all at once,
 * within DISPATCH_TIMEOUT_S; then one small `report`. Outcomes come back in task order.
 */
export async function executeTasks(pass: string, tasks: readonly TaskEnvelope[], deps: ExecuteDeps): Promise<TaskOutcome[]> {
  if (tasks.length === 0) return [];
  let decided: DecideResult;
  try {
    decided = await deps.decide(pass, tasks.map((t) => ({ id: t.id, type: t.type, domain: t.domain, drift_score: t.drift_score })));
  } catch (err) {
    return notDecided(tasks, err);
  }
  const deadline = deps.now() + deps.config.DISPATCH_TIMEOUT_S * 1000;
  const tally = new PassTally(pass);
  const fast: { task: TaskEnvelope; decision: Of<"fast"> }[] = [];
  const escalate: { task: TaskEnvelope; decision: Of<"escalate"> }[] = [];
  const outcomes = new Map<string, TaskOutcome>();
  const controls: Promise<void>[] = [];
  tasks.forEach((task, i) => {
    const decision = decided.decisions[i] ?? { kind: "refused", retriable: true, not_run: true, error: "coordinator returned no decision" };
    if (decision.kind === "fast") fast.push({ task, decision });
    else if (decision.kind === "escalate") escalate.push({ task, decision });
    else if (decision.kind === "refused") outcomes.set(task.id, refusedOutcome(task, decision));
    else controls.push(deps.control(task.id, decision.control, task.params).then((o) => void outcomes.set(task.id, o), (err: unknown) => void outcomes.set(task.id, { id: task.id, ok: false as const, retriable: true, error: errorMessage(err) })));
  });
  const [fastOutcomes, planOutcomes] = await Promise.all([
    runFast(fast, deps.call, deadline - deps.now(), deps.config, tally),
    runPlans(escalate, { organism: decided.organism, config: deps.config, call: deps.call, plans: deps.plans, deadline, now: deps.now, tally }),
    Promise.all(controls),
  ]);
  fastOutcomes.forEach((o) => outcomes.set(o.id, o));
  planOutcomes.forEach((o, id) => outcomes.set(id, o));
  const ordered = tasks.map((t): TaskOutcome => outcomes.get(t.id) ?? { id: t.id, ok: false, retriable: true, error: "no outcome" });
  ordered.forEach((o, i) => {
    if (decided.decisions[i]?.kind !== "control") tally.outcome(o);
  });
  const reported = await settleWithin(deps.report(tally.done()), REPORT_WAIT_MS, "coordinator report");
  if (!reported.ok) console.warn(`pass report lost: ${reported.error}`);
  return ordered;
}
