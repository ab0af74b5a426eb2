import type { AiBinding } from "../organism/cognitive-planner";
import type { Decide } from "../clients/organism-client";
import type { RunControl } from "../clients/control-tasks";
import type { Config } from "../config";
import { CircuitOpenError } from "../lib/circuit-breaker";
import { errorMessage } from "../lib/error-message";
import { settleWithin } from "../lib/timeout";
import type { DecideResult, Decision, PassReport } from "../organism/decisions";
import type { OutcomeSink, TaskEnvelope, TaskOutcome } from "../organism/task-contracts";
import type { OrganCall, OrganGroupCall } from "./organ-calls";
import { PassTally } from "./pass-tally";
import { runFast } from "./run-fast";
import { runPlans, type PlanStore } from "./run-plans";

export interface ExecuteDeps {
  config: Config;
  decide: Decide;
  call: OrganCall;
  /** Fast-path groups: one call per group of a replica's tasks, reports streamed back. */
  callGroup: OrganGroupCall;
  /** Aborts these tasks' runs on a replica (best effort). */
  abort: (replica: string, ids: string[]) => Promise<void>;
  control: RunControl;
  /** Best effort; bounded by the caller. */
  report: (report: PassReport) => Promise<void>;
  plans: PlanStore;
  now: () => number;
  /** The Workers AI binding, if bound (a cognitive planner backend). */
  ai?: AiBinding;
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
 * the coordinator, then the organs directly — one call per fast-path task, durable plans for
 * escalations, the coordinator's typed methods for read-only control — all at once. Each
 * outcome goes to `sink` as soon as it is known; then one small `report`.
 */
export async function executeTasks(pass: string, tasks: readonly TaskEnvelope[], deps: ExecuteDeps, sink: OutcomeSink): Promise<void> {
  if (tasks.length === 0) return;
  let decided: DecideResult;
  try {
    decided = await deps.decide(pass, tasks.map((t) => ({ id: t.id, type: t.type, domain: t.domain, drift_score: t.drift_score })));
  } catch (err) {
    for (const o of notDecided(tasks, err)) sink.outcome(o);
    return;
  }
  const deadline = deps.now() + deps.config.DISPATCH_TIMEOUT_S * 1000;
  const tally = new PassTally(pass);
  const fast: { task: TaskEnvelope; decision: Of<"fast"> }[] = [];
  const escalate: { task: TaskEnvelope; decision: Of<"escalate"> }[] = [];
  const others: Promise<void>[] = [];
  const settle = (o: TaskOutcome) => {
    tally.outcome(o);
    sink.outcome(o);
  };
  tasks.forEach((task, i) => {
    const decision = decided.decisions[i] ?? { kind: "refused", retriable: true, not_run: true, error: "coordinator returned no decision" };
    if (decision.kind === "fast") fast.push({ task, decision });
    else if (decision.kind === "escalate") escalate.push({ task, decision });
    else if (decision.kind === "refused") settle(refusedOutcome(task, decision));
    else others.push(deps.control(task.id, decision.control, task.params).then(sink.outcome, (err: unknown) => sink.outcome({ id: task.id, ok: false as const, retriable: true, error: errorMessage(err) })));
  });
  others.push(
    runPlans(escalate, { organism: decided.organism, config: deps.config, call: deps.call, plans: deps.plans, deadline, now: deps.now, tally, ...(deps.ai ? { ai: deps.ai } : {}) }).then((outcomes) => {
      for (const { task } of escalate) settle(outcomes.get(task.id) ?? { id: task.id, ok: false, retriable: true, error: "no outcome" });
    }),
  );
  await Promise.all([runFast(fast, deps.callGroup, deps.abort, deps.now, deps.config, tally, sink), ...others]);
  const reported = await settleWithin(deps.report(tally.done()), REPORT_WAIT_MS, "coordinator report");
  if (!reported.ok) console.warn(`pass report lost: ${reported.error}`);
}
