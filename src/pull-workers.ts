import { decideOutcome, retryPolicyOf } from "./dispatch/retry-policy";
import { PASS_MAX_INPUT_BYTES } from "./dispatch/pass-limits";
import { wakeOrLeaveToSweeper } from "./dispatch/wakeups";
import { AppError } from "./errors";
import { followUpDeps, followUpTerminal } from "./follow-ups";
import { leaseTokenFor, leaseTokenHolds } from "./lib/lease-token";
import { utf8Bytes } from "./lib/platform-limits";
import { leaseTypes, scopeAllows, type WorkerScope } from "./lib/worker-tokens";
import type { TaskOutcome } from "./organism/task-contracts";
import { DEFAULT_LEASE_S, MAX_LEASE_S, MIN_LEASE_S } from "./schemas/pull-worker";
import { claimDueTasks, type ClaimedTask } from "./store/claim-due-tasks";
import { readLease, type LeaseRow } from "./store/pull-leases";
import { recordOutcomes, type OutcomeWrite } from "./store/record-outcomes";
import { heartbeatTask } from "./store/task-work";
import { decodeTimelineEntry, type StoredTimelineEntry } from "./store/timeline-codec";
import { definitionFor, pullTypes } from "./tasks/registry";
import type { TaskOps } from "./task-operations";
/** A task as POST /workers/lease hands it out: the shape the Node worker reads (src/pull-worker.ts). */
import type { LeasedTask } from "./pull-worker";

export type { LeasedTask };

/**
 * Pull workers (DESIGN §16, issue 22): the operations behind POST /workers/lease and
 * POST /tasks/{id}/heartbeat|complete|fail|release. A lease is the dispatcher's claim limited to
 * pull types; every write is fenced by the claim's token (the lease token is derived from it), and
 * outcomes go through the dispatcher's own outcome path (decideOutcome → recordOutcomes →
 * followUpTerminal): dependents, webhooks, waiters and concurrency-key slots follow the same way.
 */

/** While nothing is due, a lease looks again this often (ms) until its wait_s ends (or less often: leasePollMs). */
export const LEASE_POLL_MS = 400;
/** D1 statements one claim costs: the rollup, the update, the next run_after. */
export const CLAIM_STATEMENTS = 3;
/** Statements a lease request keeps for after its claim (the parents' results of leased dependents). */
export const LEASE_STATEMENT_RESERVE = 5;

/**
 * How often a waiting lease claims: every LEASE_POLL_MS, unless the invocation's D1 budget
 * (D1_QUERIES_PER_INVOCATION: 50 on Workers Free) cannot pay for that many claims in `waitMs`;
 * then the claims it can pay for are spread over the wait (the first is made at once).
 */
export function leasePollMs(waitMs: number, queriesPerInvocation: number): number {
  const claims = Math.max(1, Math.floor((queriesPerInvocation - LEASE_STATEMENT_RESERVE) / CLAIM_STATEMENTS));
  return Math.max(LEASE_POLL_MS, Math.ceil(waitMs / Math.max(1, claims - 1)));
}

export interface LeaseInput {
  types?: string[] | undefined;
  max: number;
  lease_s: number;
  wait_s: number;
}

export interface LeaseDeps {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

const SYSTEM: LeaseDeps = { now: Date.now, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

async function toLeased(ops: TaskOps, task: ClaimedTask, token: string, now: number, leaseMs: number): Promise<LeasedTask> {
  const timeout = definitionFor(task.type, ops.config)?.timeout_s;
  return {
    id: task.id,
    type: task.type,
    params: task.params,
    description: task.description,
    domain: task.domain,
    attempt: task.attempts,
    max_attempts: task.max_attempts,
    lease_token: await leaseTokenFor(token, task.id),
    lease_expires_at: now + leaseMs,
    deadline: timeout === undefined ? null : now + timeout * 1000,
    last_heartbeat: task.last_heartbeat ?? null,
    parents: task.parents ?? null,
  };
}

/**
 * Leases up to `max` due tasks of the requested pull types (the claim's order, pauses, concurrency
 * keys and dependencies apply), or waits up to `wait_s` for some, looking every LEASE_POLL_MS.
 */
export async function leaseTasks(ops: TaskOps, scope: WorkerScope, input: LeaseInput, deps: LeaseDeps = SYSTEM): Promise<LeasedTask[]> {
  const chosen = leaseTypes(scope, input.types, pullTypes(ops.config));
  if (!chosen.ok) {
    if (chosen.status === 403) throw new AppError("forbidden", chosen.message, { type: chosen.type });
    throw new AppError("validation_failed", `types: ${chosen.message}`, { fields: [{ path: "types", message: chosen.message }] });
  }
  if (chosen.types.length === 0) return [];
  const leaseMs = input.lease_s * 1000;
  const until = deps.now() + input.wait_s * 1000;
  const pollMs = leasePollMs(input.wait_s * 1000, ops.config.D1_QUERIES_PER_INVOCATION);
  for (;;) {
    const token = crypto.randomUUID();
    const now = deps.now();
    const { claimed } = await claimDueTasks(ops.db, { token, now, leaseMs, maxTasks: input.max, maxInputBytes: PASS_MAX_INPUT_BYTES, types: { only: chosen.types } });
    if (claimed.length > 0) {
      const ordered = [...claimed].sort((a, b) => a.sort_key - b.sort_key || (a.id < b.id ? -1 : 1));
      return Promise.all(ordered.map((t) => toLeased(ops, t, token, now, leaseMs)));
    }
    const left = until - deps.now();
    if (left <= 0) return [];
    await deps.sleep(Math.min(pollMs, left));
  }
}

/** Whether the newest timeline entry says the task was cancelled while it ran (a lease's heartbeat then learns it). */
function cancelledWhileRunning(row: LeaseRow): boolean {
  if (row.status !== "cancelled" || row.last_event === null) return false;
  try {
    const [, from, to, attempt] = decodeTimelineEntry(JSON.parse(row.last_event) as StoredTimelineEntry, row.created_at);
    return from === "running" && to === "cancelled" && attempt === row.attempts;
  } catch {
    return false;
  }
}

type Held = { held: true; row: LeaseRow & { locked_by: string } } | { held: false; cancelled: boolean };

/** The task, checked: 404 when there is none, 403 outside the scope; then whether the lease token still holds it. */
async function leaseOf(ops: TaskOps, scope: WorkerScope, id: string, token: string): Promise<Held> {
  const row = await readLease(ops.db, id);
  if (!row) throw new AppError("not_found", `no task '${id}'`);
  if (!scopeAllows(scope, row.type)) throw new AppError("forbidden", `this worker token may not act on tasks of type '${row.type}'`, { type: row.type });
  if (row.status === "running" && row.locked_by !== null && (await leaseTokenHolds(token, row.locked_by, id))) return { held: true, row: { ...row, locked_by: row.locked_by } };
  return { held: false, cancelled: cancelledWhileRunning(row) };
}

const leaseLost = (id: string) => new AppError("conflict", `lease lost: task ${id} is not running under this lease token (expired, released, finished or cancelled); nothing was changed`);

async function heldOrConflict(ops: TaskOps, scope: WorkerScope, id: string, token: string): Promise<LeaseRow & { locked_by: string }> {
  const lease = await leaseOf(ops, scope, id, token);
  if (!lease.held) throw leaseLost(id);
  return lease.row;
}

/** The length of the lease as last set (claim or heartbeat), within the lease bounds; else the default. */
export function currentLeaseS(row: Pick<LeaseRow, "lease_expires_at" | "last_heartbeat">): number {
  if (row.lease_expires_at === null || row.last_heartbeat === null) return DEFAULT_LEASE_S;
  const s = (row.lease_expires_at - row.last_heartbeat) / 1000;
  return Number.isFinite(s) && s > 0 ? Math.min(MAX_LEASE_S, Math.max(MIN_LEASE_S, s)) : DEFAULT_LEASE_S;
}

export async function heartbeatLease(
  ops: TaskOps,
  scope: WorkerScope,
  id: string,
  input: { lease_token: string; lease_s?: number | undefined; details?: unknown },
  now = Date.now(),
): Promise<{ id: string; lease_expires_at: number; cancel_requested: boolean }> {
  const lease = await leaseOf(ops, scope, id, input.lease_token);
  // Cancelled while this attempt ran: say so (the worker stops) rather than a bare 409.
  if (!lease.held) {
    if (lease.cancelled) return { id, lease_expires_at: now, cancel_requested: true };
    throw leaseLost(id);
  }
  const leaseMs = (input.lease_s ?? currentLeaseS(lease.row)) * 1000;
  const details = input.details === undefined ? null : JSON.stringify(input.details);
  if (!(await heartbeatTask(ops.db, id, lease.row.locked_by, details, now, leaseMs))) throw leaseLost(id);
  return { id, lease_expires_at: now + leaseMs, cancel_requested: false };
}

/**
 * One outcome of a leased task through the dispatcher's outcome path, fenced by the row's claim
 * token: the same rows, timeline, dependents, webhooks and waiters as a dispatcher pass.
 */
async function finish(ops: TaskOps, row: LeaseRow & { locked_by: string }, outcome: TaskOutcome, adjust: (w: OutcomeWrite) => OutcomeWrite = (w) => w): Promise<Exclude<OutcomeWrite["status"], "running">> {
  const now = Date.now();
  const write = adjust(decideOutcome(row, outcome, ops.config, now, Math.random() /* jitter only */, retryPolicyOf(row.type, ops.config)));
  const recorded = await recordOutcomes(ops.db, row.locked_by, [write], now, new Set(row.has_dependents === 1 ? [row.id] : []));
  const written = recorded.written[0];
  if (!written) throw leaseLost(row.id);
  if (written.status === "running") throw new Error(`task ${row.id}: an outcome of a pull route left it running`);
  const released = await followUpTerminal(recorded.written, recorded.dependents, "dispatcher", followUpDeps(ops.env, ops.db));
  // Released dependents, or a key slot freed, may be the dispatcher's work (a dependent or key-mate of another type).
  if (released > 0 || row.concurrency_key !== null) await wakeOrLeaveToSweeper(ops.env.TASK_QUEUE, "run");
  return written.status;
}

export async function completeLease(ops: TaskOps, scope: WorkerScope, id: string, input: { lease_token: string; result?: unknown }) {
  const row = await heldOrConflict(ops, scope, id, input.lease_token);
  const result = input.result === undefined ? null : input.result;
  const bytes = utf8Bytes(JSON.stringify(result));
  if (bytes > ops.config.RESULT_MAX_BYTES) throw new AppError("payload_too_large", `result of ${bytes} bytes exceeds RESULT_MAX_BYTES (${ops.config.RESULT_MAX_BYTES}); the task is unchanged`);
  return { id, status: await finish(ops, row, { id, ok: true, result }) };
}

export async function failLease(ops: TaskOps, scope: WorkerScope, id: string, input: { lease_token: string; error: string; retryable: boolean; retry_after_s?: number | undefined }) {
  const row = await heldOrConflict(ops, scope, id, input.lease_token);
  const outcome: TaskOutcome = {
    id,
    ok: false,
    retriable: input.retryable,
    error: input.error,
    ...(input.retry_after_s === undefined ? {} : { retryAfterMs: Math.round(input.retry_after_s * 1000) }),
  };
  return { id, status: await finish(ops, row, outcome) };
}

/** Back to `queued`, due now, its attempt given back: the not-run outcome a DeferredError makes, queued at once. */
export async function releaseLease(ops: TaskOps, scope: WorkerScope, id: string, input: { lease_token: string }) {
  const row = await heldOrConflict(ops, scope, id, input.lease_token);
  const outcome: TaskOutcome = { id, ok: false, retriable: true, notRun: true, retryAfterMs: 0, error: "released by its pull worker" };
  const status = await finish(ops, row, outcome, (w) => ({ ...w, status: "queued", run_after: null, error: null, message: "released by its pull worker, attempt not counted" }));
  return { id, status };
}
