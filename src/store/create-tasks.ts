import { sql, type SQL } from "drizzle-orm";
import type { ParentFailurePolicy, TaskRow } from "../db/schema";
import { chunkJsonArray, D1_JSON_BUDGET_BYTES } from "../lib/platform-limits";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { dependentsRound, roundEffects, type TerminalEffects } from "./dependents";
import { TERMINAL } from "./status-sql";
import { rollupUpsert } from "./transition";
import { laneOf } from "./claim-lane";
import { fromRawRow, type RawTaskRow } from "./raw-row";
import { flowFlagsQuery, flowOf, type FlowFlag } from "./flow-state";
import { NOT_WAITING, type FlowState } from "./task-json";

export interface NewTask {
  id: string;
  status: "created" | "queued";
  type: string;
  description: string | null;
  domain: string | null;
  drift_score: number;
  params: Record<string, unknown>;
  run_after: number | null;
  max_attempts: number;
  idempotency_key: string | null;
  /** UTF-8 bytes of params + description (sizes a dispatcher pass). */
  input_bytes: number;
  /** Fingerprint of the submitted body; set with an idempotency key. */
  request_hash: string | null;
  /** Distinct parent ids (existing tasks or others of the same batch); null when it has none. */
  depends_on?: string[] | null;
  on_parent_failure?: ParentFailurePolicy | null;
  callback_url?: string | null;
  /** Seconds of head start in the claim order. */
  priority: number;
  concurrency_key: string | null;
  /** Set with a key: the most of the key's tasks running at once. */
  concurrency_limit: number | null;
}

export interface CreatedTask {
  row: TaskRow;
  /** false when an earlier task with the same idempotency key was returned instead. */
  created: boolean;
  /** Paused / waiting on its key, read in the same transaction (a response needs no second read). */
  flow: FlowState;
}

export type CreateResult =
  /** `effects`: dependents the insert released or failed at once (their parents had finished). */
  | { ok: true; tasks: CreatedTask[]; effects: TerminalEffects }
  /** An idempotency key already names a task with another body: nothing was written. */
  | { ok: false; conflict: { index: number; key: string } };

/**
 * The statements a batch with dependencies adds: its edges, the parents marked as having
 * dependents (flagged at once when already finished), a dependency round (which releases or fails
 * the children of finished parents in this same transaction) and the rows as they end up.
 */
function dependencyStatements(payload: string, now: number): SQL[] {
  const inserted = sql`EXISTS (SELECT 1 FROM tasks AS n WHERE n.id = j.value->>'id')`;
  const edges = sql`SELECT DISTINCT pj.value AS parent_id, j.value->>'id' AS child_id
    FROM json_each(${payload}) AS j CROSS JOIN json_each(j.value, '$.depends_on') AS pj
    WHERE json_type(j.value, '$.depends_on') = 'array' AND ${inserted}`;
  return [
    sql`INSERT INTO task_deps (parent_id, child_id) ${edges} ON CONFLICT DO NOTHING`,
    sql`UPDATE tasks SET has_dependents = 1, release_cursor = CASE WHEN status IN ${TERMINAL} THEN '' ELSE release_cursor END
        WHERE id IN (SELECT parent_id FROM (${edges}))`,
    ...dependentsRound("api", now),
    sql`SELECT t.* FROM json_each(${payload}) AS j CROSS JOIN tasks AS t ON t.id = j.value->>'id'`,
  ];
}

/**
 * Inserts a batch of tasks (each with its first timeline entry) and their rollups in one
 * transaction, four statements whatever the batch size (the fourth reads the pause flags of the
 * batch's types and keys, so the answer needs no second round trip) (more with dependencies, see
 * dependencyStatements). A task whose idempotency key already exists with the same body is not
 * inserted: the existing row comes back in its place. If any key exists with a different body,
 * nothing is inserted (the check and the insert share the transaction, so no race can split the batch).
 */
export async function createTasks(db: Db, tasks: NewTask[], now: number): Promise<CreateResult> {
  // A submitted batch is at most 256 KiB of body; one chunk holds it (checked, not assumed).
  const [chunk, ...more] = chunkJsonArray(tasks, D1_JSON_BUDGET_BYTES);
  if (!chunk || more.length > 0) throw new Error(`a batch of ${tasks.length} tasks does not fit one D1 statement`);
  const payload = chunk.json;
  const keys = JSON.stringify(tasks.map((t) => t.idempotency_key).filter((k) => k !== null));
  const withDependencies = tasks.some((t) => (t.depends_on?.length ?? 0) > 0);
  const conflicting = sql`
    SELECT 1 FROM json_each(${payload}) AS k CROSS JOIN tasks AS t ON t.idempotency_key = k.value->>'idempotency_key'
    WHERE t.request_hash IS NOT NULL AND t.request_hash IS NOT k.value->>'request_hash'`;
  const results = await sqlBatch<[RawTaskRow, unknown, RawTaskRow, FlowFlag, ...unknown[]]>(db, [
    sql`
      INSERT INTO tasks (id, status, attempts, max_attempts, type, description, domain, drift_score,
                         params, run_after, idempotency_key, input_bytes, request_hash, created_at, updated_at,
                         depends_on, waiting_on, on_parent_failure, callback_url,
                         priority, concurrency_key, concurrency_limit, lane)
      SELECT j.value->>'id', j.value->>'status', 0, j.value->>'max_attempts', j.value->>'type',
             j.value->>'description', j.value->>'domain', j.value->>'drift_score',
             json(j.value->'params'), j.value->>'run_after', j.value->>'idempotency_key',
             j.value->>'input_bytes', j.value->>'request_hash', ${now}, ${now},
             CASE WHEN json_type(j.value, '$.depends_on') = 'array' THEN json(j.value->'depends_on') END,
             coalesce(json_array_length(j.value, '$.depends_on'), 0),
             j.value->>'on_parent_failure', j.value->>'callback_url',
             j.value->>'priority', j.value->>'concurrency_key', j.value->>'concurrency_limit',
             ${laneOf({ status: sql`j.value->>'status'`, runAfter: sql`j.value->>'run_after'`, priority: sql`j.value->>'priority'`, concurrencyKey: sql`j.value->>'concurrency_key'` })}
      FROM json_each(${payload}) AS j WHERE NOT EXISTS (${conflicting})
      ON CONFLICT DO NOTHING
      RETURNING *`,
    // Ids are fresh, so every row found by one was inserted just now.
    rollupUpsert(
      sql`SELECT t.id, t.type, NULL AS from_status, t.status AS to_status, 0 AS attempt, t.created_at, NULL AS locked_at
          FROM json_each(${payload}) AS j CROSS JOIN tasks AS t ON t.id = j.value->>'id'`,
      "api",
      now,
    ),
    sql`
      SELECT * FROM tasks WHERE idempotency_key IN (SELECT value FROM json_each(${keys}))`,
    // A task returned for an idempotency key has the same body, so these are its type and key too.
    flowFlagsQuery(tasks.map((t) => t.type), tasks.flatMap((t) => (t.concurrency_key === null ? [] : [t.concurrency_key]))),
    ...(withDependencies ? dependencyStatements(payload, now) : []),
  ]);
  const [returned, , existing, flags] = results;
  // With dependencies, the rows as the round left them (a child of finished parents is queued already).
  const inserted = withDependencies ? (results.at(-1) as RawTaskRow[]) : returned;
  const effects = withDependencies ? roundEffects(results.slice(0, -1)) : { changed: [], more: false };
  const byKey = new Map(existing.map((r) => [r.idempotency_key, r]));
  const byId = new Map(inserted.map((r) => [r.id, r]));
  const prior = (t: NewTask) => (t.idempotency_key === null ? undefined : byKey.get(t.idempotency_key));
  const index = tasks.findIndex((t) => {
    const p = byId.has(t.id) ? undefined : prior(t);
    return p !== undefined && p.request_hash !== null && p.request_hash !== t.request_hash;
  });
  if (index >= 0) return { ok: false, conflict: { index, key: tasks[index]?.idempotency_key as string } };
  const found = tasks.map((t) => {
    const own = byId.get(t.id);
    if (own) return { row: fromRawRow(own), created: true };
    const existing = prior(t);
    if (!existing) throw new Error(`task ${t.id} was neither inserted nor found by idempotency key`);
    return { row: fromRawRow(existing), created: false };
  });
  const flow = flowOf(found.map((f) => f.row), flags);
  const out = found.map((f): CreatedTask => ({ ...f, flow: flow.get(f.row.id) ?? NOT_WAITING }));
  return { ok: true, tasks: out, effects };
}
