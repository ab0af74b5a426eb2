import type { Config } from "../config";
import { errorMessage } from "../lib/error-message";
import { withTimeout } from "../lib/timeout";
import type { OutcomeSink, TaskEnvelope, TaskOutcome } from "../organism/task-contracts";
import { claimDueTasks, renewLeases, type ClaimedTask, type ClaimRequest, type ClaimResult } from "../store/claim-due-tasks";
import type { Db } from "../store/db";
import { failUnclaimable, nextDueTask } from "../store/fail-unclaimable";
import { recordOutcomes, type RecordedOutcomes, type WrittenOutcome } from "../store/record-outcomes";
import { taskPlanStore } from "../store/task-plans";
import { OutcomeRecorder, SYSTEM_TIMERS } from "./outcome-recorder";
import { decideOutcome, retryPolicyOf, timeoutOf } from "./retry-policy";
import { PASS_GRACE_MS, RUN_GRACE_MS, type PassLimits } from "./pass-limits";
import { dispatcherTypes } from "./pull-types";
import type { PlanStore } from "./run-plans";

/** Runs a pass's claimed tasks (production: `executeTasks`, the decide-then-organs path), each outcome to `sink` as it ends. */
export type RunTasks = (pass: string, tasks: TaskEnvelope[], plans: PlanStore, sink: OutcomeSink) => Promise<void>;

/**
 * A pass asks before it claims anything: either a run it may make (or `release` unused when
 * nothing was claimed), or how long the coordinator's breaker wants callers to stay away.
 */
export type PassAdmission = { admitted: true; run: RunTasks; release(): void } | { admitted: false; retryAfterMs: number };

export interface PassDeps {
  db: Db;
  config: Config;
  /** Asked before every claim: the coordinator's circuit breaker admits one decision, or says how long to stay away. */
  admit: () => PassAdmission;
  now: () => number;
  random: () => number;
  newToken: () => string;
  /** After the outcomes commit: waiters, webhooks, up to `maxRounds` further dependency rounds; how many dependents were queued. */
  followUp: (recorded: RecordedOutcomes, maxRounds: number) => Promise<number>;
}

export type PassResult =
  /** The breaker refused: nothing was claimed. */
  | { kind: "refused"; retryAfterMs: number }
  | {
      kind: "ran";
      claimed: number;
      /** The pass hit a cap, or freed concurrency-key slots, so more due work probably waits. */
      full: boolean;
      /** When the next waiting task becomes due (a retry this pass wrote, or a delayed task), if any. */
      nextDueAt: number | null;
    };

function toEnvelope(task: ClaimedTask, token: string, now: number, config: Config): TaskEnvelope {
  const { id, type, params, description, domain, drift_score, attempts, parents, last_heartbeat } = task;
  return { id, type, params, description, domain, drift_score, attempt: attempts, parents, last_heartbeat, token, deadline: now + timeoutOf(type, config) * 1000 };
}

const earliest = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));

/** What a pass's outcome writes add up to. */
interface Recorded {
  written: WrittenOutcome[];
  released: number;
}

/**
 * Runs the claimed tasks and records each outcome soon after its task ends (OutcomeRecorder),
 * renewing the lease of the tasks still running every HEARTBEAT_S; a task whose lease is gone
 * (cancelled) has its run aborted. A run that throws or overruns every deadline is a retriable
 * failure of the tasks still without an outcome, and counts as an attempt.
 */
async function runAndRecord(claimed: ClaimedTask[], token: string, run: RunTasks, deps: PassDeps, limits: PassLimits): Promise<Recorded> {
  const { config } = deps;
  const started = deps.now();
  const envelopes = claimed.map((t) => toEnvelope(t, token, started, config));
  const byId = new Map(claimed.map((t) => [t.id, t]));
  const open = new Set(byId.keys());
  const aborts = new Map<string, () => Promise<void>>();
  const withDependents = new Set(claimed.filter((t) => t.has_dependents === 1).map((t) => t.id));
  const recorded: Recorded = { written: [], released: 0 };

  // Each write releases its own tasks' dependents in its transaction and sends their webhooks;
  // what cascades further (`more`) waits for the follow-up rounds once every outcome is in.
  let more = false;
  const write = async (outcomes: TaskOutcome[]) => {
    const now = deps.now();
    const writes = outcomes.flatMap((o) => {
      const task = byId.get(o.id);
      return task ? [decideOutcome(task, o, config, now, deps.random(), retryPolicyOf(task.type, config))] : [];
    });
    const result = await recordOutcomes(deps.db, token, writes, now, withDependents);
    recorded.written.push(...result.written);
    more ||= result.dependents.more;
    recorded.released += await deps.followUp({ ...result, dependents: { ...result.dependents, more: false } }, 0);
  };
  const recorder = new OutcomeRecorder(write, limits.outcomeFlushes, { ...SYSTEM_TIMERS, now: deps.now });
  const sink: OutcomeSink = {
    outcome: (o) => {
      if (!open.delete(o.id)) return; // one outcome per task
      aborts.delete(o.id);
      recorder.add(o, open.size === 0);
    },
    started: (id, abort) => void aborts.set(id, abort),
  };
  const heartbeat = setInterval(() => {
    const ids = [...open];
    renewLeases(deps.db, ids, token, deps.now(), config.TASK_LEASE_S * 1000).then(
      (held) => {
        for (const id of ids) if (!held.has(id) && open.has(id)) void aborts.get(id)?.();
      },
      (err: unknown) => console.warn("lease renewal failed", err),
    );
  }, config.HEARTBEAT_S * 1000);
  try {
    const lastDeadline = Math.max(...envelopes.map((e) => e.deadline), started + config.DISPATCH_TIMEOUT_S * 1000);
    await withTimeout(run(token, envelopes, taskPlanStore(deps.db, token, deps.now), sink), lastDeadline - started + RUN_GRACE_MS + PASS_GRACE_MS, "pass");
    for (const id of [...open]) sink.outcome({ id, ok: false, retriable: true, error: "the run returned no outcome" });
  } catch (err) {
    const error = errorMessage(err);
    for (const id of [...open]) sink.outcome({ id, ok: false, retriable: true, error });
  } finally {
    clearInterval(heartbeat);
  }
  await recorder.close();
  if (more) recorded.released += await deps.followUp({ written: [], dependents: { changed: [], more } }, limits.followUpRounds);
  return recorded;
}

/**
 * The claim, split when it fails: D1 may be refusing one task (a value over its limit built from
 * it), so the claim is tried again with half as many tasks, down to one. Then the next task is
 * claimed by id, so that a failure now is its own: it fails with the error, and the next pass
 * claims the rest. A failure no task explains (nothing due, or the failing write fails too: D1 is
 * down) propagates. The happy path is the one claim statement.
 */
async function claimOrSplit(db: Db, req: ClaimRequest): Promise<{ claim: ClaimResult; split: boolean } | { unclaimable: RecordedOutcomes }> {
  let failure: unknown;
  for (let maxTasks = req.maxTasks; ; maxTasks = Math.ceil(maxTasks / 2)) {
    try {
      return { claim: await claimDueTasks(db, { ...req, maxTasks }), split: failure !== undefined };
    } catch (err) {
      console.warn(`claim of ${maxTasks} task(s) failed`, err);
      failure = err;
      if (maxTasks === 1) break;
    }
  }
  const next = await nextDueTask(db, req.now, req.types);
  if (next === null) throw failure;
  try {
    return { claim: await claimDueTasks(db, { ...req, maxTasks: 1, only: next }), split: true };
  } catch (err) {
    const unclaimable = await failUnclaimable(db, next, req.now, errorMessage(err));
    // Null: a concurrent pass took or failed the task meanwhile; the next pass looks again.
    return unclaimable ? { unclaimable } : { claim: { claimed: [], nextRunAfter: null, keyed: false }, split: true };
  }
}

/**
 * One dispatcher pass: claim the best due tasks (bounded by count and bytes), run them (the
 * coordinator decides, the organs run), record every outcome (fenced by the claim's token,
 * chunked to D1's limits). `claimedFull` is called as soon as a claim comes back full.
 */
export async function runPass(deps: PassDeps, limits: PassLimits, claimedFull: () => void = () => undefined): Promise<PassResult> {
  const admission = deps.admit();
  if (!admission.admitted) return { kind: "refused", retryAfterMs: admission.retryAfterMs };
  const token = deps.newToken();
  let claimed: ClaimedTask[];
  let claim: ClaimResult;
  let split: boolean;
  try {
    const { maxTasks, maxInputBytes } = limits;
    const types = dispatcherTypes(deps.config);
    const taken = await claimOrSplit(deps.db, { token, now: deps.now(), leaseMs: deps.config.TASK_LEASE_S * 1000, maxTasks, maxInputBytes, types });
    if ("unclaimable" in taken) {
      admission.release();
      await deps.followUp(taken.unclaimable, limits.followUpRounds);
      // The tasks behind the failed one are due: the next pass takes them.
      return { kind: "ran", claimed: 0, full: true, nextDueAt: null };
    }
    ({ claim, split } = taken);
    claimed = claim.claimed;
  } catch (err) {
    admission.release();
    throw err;
  }
  const { nextRunAfter } = claim;
  if (claimed.length === 0) {
    admission.release(); // frees a half-open probe slot: no call was made
    return { kind: "ran", claimed: 0, full: split, nextDueAt: nextRunAfter };
  }

  const claimedBytes = claimed.reduce((n, t) => n + t.input_bytes, 0);
  const full = claimed.length >= limits.maxTasks || claimedBytes + limits.maxTaskInputBytes > limits.maxInputBytes;
  // More is due: the drain may start the next pass now, not when this pass's slowest task ends.
  if (full) claimedFull();
  const { written, released } = await runAndRecord(claimed, token, admission.run, deps, limits);
  const retryAt = written.reduce<number | null>((at, w) => (w.status === "retry" ? earliest(at, w.run_after) : at), null);
  return {
    kind: "ran",
    claimed: claimed.length,
    // Released dependents are due now, a keyed task's outcome frees its key's slot, and a split
    // claim left the task that failed it due: look again at once.
    full: split || released > 0 || claim.keyed || full,
    nextDueAt: earliest(nextRunAfter, retryAt),
  };
}
