import { sql } from "drizzle-orm";
import { chunkJsonArray, D1_JSON_BUDGET_BYTES } from "../lib/platform-limits";
import { errorMessage } from "../lib/error-message";
import type { Db } from "./db";
import { packExecution } from "./execution-codec";
import { sqlBatch } from "./sql-batch";
import { dependentsRound, FOLLOW_UP_RETURNING, roundEffects, type ChangedTask, type TerminalEffects } from "./dependents";
import { transition } from "./transition";

export interface OutcomeWrite {
  id: string;
  /**
   * `queued`: a pull worker gave the task back unstarted (POST /tasks/{id}/release), its attempt refunded.
   * `running`: an http endpoint accepted the work (202): the task keeps its lock, its lease runs to `lease_expires_at`.
   */
  status: "completed" | "failed" | "retry" | "queued" | "running";
  /** With `running`: the new end of the lease (epoch ms; never shortened). */
  lease_expires_at?: number;
  result: unknown;
  /** How the task ran (null: not known, e.g. its run was lost). */
  execution?: unknown;
  error: string | null;
  run_after: number | null;
  /** Shown in the task's event timeline. */
  message: string;
  /** The task was not run, or its outcome was lost: undo the claim's attempts + 1. */
  refund_attempt?: boolean;
}

export interface WrittenOutcome extends ChangedTask {
  status: OutcomeWrite["status"];
  run_after: number | null;
}

/** What a claim's outcome writes did: the rows written and what their dependents did in the same transactions. */
export interface RecordedOutcomes {
  written: WrittenOutcome[];
  dependents: TerminalEffects;
}

/** What a write of outcomes returns: the follow-up's columns, run_after, and whether it flagged dependents. */
export const WRITTEN_RETURNING = sql`RETURNING ${FOLLOW_UP_RETURNING}, tasks.run_after AS run_after, tasks.release_cursor IS NOT NULL AS flagged`;

export interface WrittenRow extends WrittenOutcome {
  /** The write flagged the task's dependents (release_cursor set): a round must look at them. */
  flagged: number;
}

/** Rows written without a dependency round: their flagged dependents are left to the follow-up's rounds. */
export function writtenWithoutRound(rows: WrittenRow[]): RecordedOutcomes {
  return { written: rows.map(({ flagged: _, ...w }) => w), dependents: { changed: [], more: rows.some((r) => r.flagged === 1) } };
}

/**
 * Outcomes of one JSON array, in one transaction, only where the claim still holds. The
 * dependency round (three statements) is appended only when `round` says a task of the array
 * has dependents; a task that gained one since its claim is flagged anyway, and `more` sends it
 * to the follow-up rounds.
 */
async function writeOutcomes(db: Db, token: string, payload: string, now: number, round: boolean): Promise<RecordedOutcomes> {
  const statements = transition({
    changes: sql`
      SELECT t.id, t.type, t.status AS from_status, j.value->>'status' AS to_status, t.attempts AS attempt,
             j.value->>'message' AS message, t.created_at, t.locked_at, j.value AS w
      FROM json_each(${payload}) AS j CROSS JOIN tasks AS t ON t.id = j.value->>'id'
      WHERE +t.status = 'running' AND t.locked_by = ${token}`,
    actor: "dispatcher",
    now,
    set: sql`attempts = attempts - coalesce(c.w->>'refund_attempt', 0),
             result = CASE WHEN c.w->>'result' IS NULL THEN NULL ELSE json(c.w->'result') END,
             execution = CASE WHEN c.w->>'execution' IS NULL THEN NULL ELSE json(c.w->'execution') END,
             error = c.w->>'error',
             locked_by = CASE WHEN c.to_status = 'running' THEN tasks.locked_by END,
             locked_at = CASE WHEN c.to_status = 'running' THEN tasks.locked_at END,
             lease_expires_at = CASE WHEN c.to_status = 'running' THEN max(coalesce(tasks.lease_expires_at, 0), c.w->>'lease_expires_at') END,
             last_heartbeat = CASE WHEN c.to_status = 'running' THEN ${now} ELSE tasks.last_heartbeat END`,
    runAfter: sql`c.w->>'run_after'`,
    returning: WRITTEN_RETURNING,
  });
  const results = round
    ? await sqlBatch<[unknown, WrittenRow, unknown, unknown, unknown]>(db, [...statements, ...dependentsRound("dispatcher", now)])
    : await sqlBatch<[unknown, WrittenRow]>(db, statements);
  const plain = writtenWithoutRound(results[1]);
  return round ? { written: plain.written, dependents: roundEffects(results) } : plain;
}

function merge(parts: RecordedOutcomes[]): RecordedOutcomes {
  return {
    written: parts.flatMap((p) => p.written),
    dependents: { changed: parts.flatMap((p) => p.dependents.changed), more: parts.some((p) => p.dependents.more) },
  };
}

/**
 * The task ran but its outcome cannot be stored (its halves were written, it alone fails): it
 * fails with the error and no result. Putting it back would run it again into the same wall,
 * forever; the attempt counts.
 */
function unrecordable(write: OutcomeWrite, err: unknown): OutcomeWrite {
  const error = `outcome could not be recorded: ${errorMessage(err)}`;
  return { id: write.id, status: "failed", result: null, error, run_after: null, message: `failed permanently: ${error}` };
}

/** What every write of one claim's outcomes shares. */
interface OutcomeBatch {
  db: Db;
  token: string;
  now: number;
}

/**
 * A chunk that fails is written again in halves, so one bad outcome cannot strand the others;
 * an outcome that fails alone is replaced by a small `failed` write without its result. If even
 * that fails (D1 is down), the error propagates and the lease expires into the reaper's hands.
 */
async function writeOrSplit(b: OutcomeBatch, writes: OutcomeWrite[], round: boolean, json = JSON.stringify(writes)): Promise<RecordedOutcomes> {
  try {
    return await writeOutcomes(b.db, b.token, json, b.now, round);
  } catch (err) {
    const [only] = writes;
    if (writes.length === 1 && only) {
      console.error(`outcome of task ${only.id} could not be written; failing it`, err);
      return writeOutcomes(b.db, b.token, JSON.stringify([unrecordable(only, err)]), b.now, false);
    }
    // Halves go without the round (its flags hand the dependents to the follow-up): a split costs two statements a write.
    const half = Math.ceil(writes.length / 2);
    return merge([await writeOrSplit(b, writes.slice(0, half), false), await writeOrSplit(b, writes.slice(half), false)]);
  }
}

/** The write as the row stores it: a fast-path execution packed (execution-codec.ts). */
function forStorage(w: OutcomeWrite): OutcomeWrite {
  const e = w.execution;
  return e !== null && typeof e === "object" && !Array.isArray(e) ? { ...w, execution: packExecution(e as Record<string, unknown>) } : w;
}

/**
 * Writes the outcomes of one claim in chunks that fit D1's value limit, only where
 * `status='running' AND locked_by=<token>` still holds: a task cancelled or re-leased meanwhile
 * keeps its state and the late result is dropped. A chunk gets the dependency round only if one
 * of its tasks has dependents. Returns the rows actually written, and the dependents each chunk's
 * round released or failed.
 */
export async function recordOutcomes(
  db: Db,
  token: string,
  writes: OutcomeWrite[],
  now: number,
  withDependents: ReadonlySet<string>,
): Promise<RecordedOutcomes> {
  const parts: RecordedOutcomes[] = [];
  const batch: OutcomeBatch = { db, token, now };
  for (const chunk of chunkJsonArray(writes.map(forStorage), D1_JSON_BUDGET_BYTES)) {
    parts.push(await writeOrSplit(batch, chunk.items, chunk.items.some((w) => withDependents.has(w.id)), chunk.json));
  }
  return merge(parts);
}
