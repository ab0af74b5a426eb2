import { sql } from "drizzle-orm";
import { chunkJsonArray, D1_JSON_BUDGET_BYTES } from "../lib/platform-limits";
import { errorMessage } from "../lib/error-message";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { dependentsRound, FOLLOW_UP_RETURNING, roundEffects, type ChangedTask, type TerminalEffects } from "./dependents";
import { transition } from "./transition";

export interface OutcomeWrite {
  id: string;
  status: "completed" | "failed" | "retry";
  result: unknown;
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

/** Outcomes of one JSON array, in one transaction (with a dependency round), only where the claim still holds. */
async function writeOutcomes(db: Db, token: string, payload: string, now: number): Promise<RecordedOutcomes> {
  const statements = transition({
    changes: sql`
      SELECT t.id, t.status AS from_status, j.value->>'status' AS to_status, t.attempts AS attempt,
             j.value->>'message' AS message, t.created_at, t.locked_at, j.value AS w
      FROM json_each(${payload}) AS j CROSS JOIN tasks AS t ON t.id = j.value->>'id'
      WHERE +t.status = 'running' AND t.locked_by = ${token}`,
    actor: "dispatcher",
    now,
    set: sql`attempts = attempts - coalesce(c.w->>'refund_attempt', 0),
             result = CASE WHEN c.w->>'result' IS NULL THEN NULL ELSE json(c.w->'result') END,
             error = c.w->>'error', run_after = c.w->>'run_after',
             locked_by = NULL, lease_expires_at = NULL`,
    returning: sql`RETURNING ${FOLLOW_UP_RETURNING}, tasks.run_after AS run_after`,
  });
  const results = await sqlBatch<[unknown, WrittenOutcome, unknown, unknown, unknown]>(db, [...statements, ...dependentsRound("dispatcher", now)]);
  return { written: results[1], dependents: roundEffects(results) };
}

function merge(parts: RecordedOutcomes[]): RecordedOutcomes {
  return {
    written: parts.flatMap((p) => p.written),
    dependents: { changed: parts.flatMap((p) => p.dependents.changed), more: parts.some((p) => p.dependents.more) },
  };
}

/** The task ran but its outcome could not be stored: put it back without its result, attempt refunded. */
function unrecordable(write: OutcomeWrite, err: unknown, now: number): OutcomeWrite {
  const error = `outcome could not be recorded (${errorMessage(err)}); the task will run again`;
  return { id: write.id, status: "retry", result: null, error, run_after: now, message: error, refund_attempt: true };
}

/**
 * A chunk that fails is written again in halves, so one bad outcome cannot strand the others;
 * an outcome that fails alone is replaced by a small "put back" write. If even that fails (D1
 * is down), the error propagates and the lease expires into the reaper's hands.
 */
async function writeOrSplit(db: Db, token: string, writes: OutcomeWrite[], now: number, json = JSON.stringify(writes)): Promise<RecordedOutcomes> {
  try {
    return await writeOutcomes(db, token, json, now);
  } catch (err) {
    const [only] = writes;
    if (writes.length === 1 && only) {
      console.error(`outcome of task ${only.id} could not be written; putting it back`, err);
      return writeOutcomes(db, token, JSON.stringify([unrecordable(only, err, now)]), now);
    }
    const half = Math.ceil(writes.length / 2);
    return merge([await writeOrSplit(db, token, writes.slice(0, half), now), await writeOrSplit(db, token, writes.slice(half), now)]);
  }
}

/**
 * Writes the outcomes of one claim in chunks that fit D1's value limit, only where
 * `status='running' AND locked_by=<token>` still holds: a task cancelled or re-leased meanwhile
 * keeps its state and the late result is dropped. Returns the rows actually written, and the
 * dependents each chunk's round released or failed.
 */
export async function recordOutcomes(db: Db, token: string, writes: OutcomeWrite[], now: number): Promise<RecordedOutcomes> {
  const parts: RecordedOutcomes[] = [];
  for (const chunk of chunkJsonArray(writes, D1_JSON_BUDGET_BYTES)) parts.push(await writeOrSplit(db, token, chunk.items, now, chunk.json));
  return merge(parts);
}
