import { sql, type SQL } from "drizzle-orm";
import type { EventActor, TaskStatus, WebhookState } from "../db/schema";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { TERMINAL } from "./status-sql";
import { transition } from "./transition";

/**
 * Dependency rounds. A finished task with dependents carries a `release_cursor` (set by its
 * terminal transition, transition.ts); a round looks at the edges of the oldest such tasks after
 * their cursors, at most ROUND_PARENTS tasks and ROUND_EDGES edges, and for each child that is
 * still waiting recomputes, from its own parent list, how many parents are unfinished:
 *  - a parent failed or cancelled and the child's policy is `fail` / `cancel` → failed / cancelled;
 *  - none unfinished → queued, its parents' result bytes added to its input (sizes the pass);
 *  - else it keeps waiting, with the new count and a timeline entry.
 * Recomputing (not counting down) makes a round idempotent: looking at a child twice, or at a
 * parent that was run again, never releases it early. The round is three statements that a
 * terminal transition's batch appends, so dependents change in the same transaction as their
 * parent; what one round cannot take is left flagged for the next (runDependentsRound).
 */
export const ROUND_PARENTS = 100;
export const ROUND_EDGES = 1000;
/** A dependent receives its parents' results in params.parents; more than this fails it. */
export const PARENT_RESULTS_MAX_BYTES = 4 * 1024 * 1024;

/** The oldest finished tasks whose children are still to be looked at (a range of tasks_release_idx). */
const flaggedParents = sql`
  SELECT id, release_cursor FROM tasks INDEXED BY tasks_release_idx
  WHERE release_cursor IS NOT NULL AND status IN ${TERMINAL}
  ORDER BY updated_at, id LIMIT ${ROUND_PARENTS}`;

/**
 * The edges of these parents after their cursors, at most ROUND_EDGES: parent by parent in the
 * parents' order, each parent's in child id order (its primary key range), so a parent's last edge
 * in the window is where its cursor goes next.
 */
const edgesOf = (parents: SQL) => sql`
  SELECT f.id AS parent_id, d.child_id FROM ${parents} AS f
  CROSS JOIN task_deps AS d ON d.parent_id = f.id AND d.child_id > f.release_cursor
  LIMIT ${ROUND_EDGES}`;

/** This round's edges: deterministic, so the three statements of a round see the same ones. */
const roundEdges = edgesOf(sql`(${flaggedParents})`);

/**
 * Per waiting child of `children` (a subquery of distinct child_id): its parents, unfinished,
 * failed and still flagged (a round is yet to look at their children), and their result bytes
 * (one pass over ≤ 100 parents).
 */
const childState = (children: SQL) => sql`
  SELECT ch.id, ch.type, ch.attempts, ch.created_at, ch.waiting_on, ch.on_parent_failure AS policy,
    (SELECT json_object(
        'pending', sum(CASE WHEN pp.status NOT IN ${TERMINAL} THEN 1 ELSE 0 END),
        'bad', min(CASE WHEN pp.status IN ('failed', 'cancelled') THEN pp.id END),
        'flagged', sum(CASE WHEN pp.release_cursor IS NOT NULL THEN 1 ELSE 0 END),
        'bytes', sum(coalesce(length(CAST(pp.result AS BLOB)), 0)))
     FROM json_each(ch.depends_on) AS pj LEFT JOIN tasks AS pp ON pp.id = pj.value) AS agg
  FROM (${children}) AS e
  CROSS JOIN tasks AS ch ON ch.id = e.child_id
  WHERE ch.status = 'created' AND ch.waiting_on > 0`;

const why = (badId: SQL) =>
  sql`(SELECT 'parent ' || id || ' ' || status || coalesce(': ' || error, '') FROM tasks WHERE id = ${badId})`;

/**
 * What a look at these children changes (a transition's `changes`). `all`: every child whose
 * state moved (a round). `stranded`: only children that leave `created` although no parent of
 * theirs is flagged, i.e. that a round should have released or failed already (the backstop).
 */
export function childChanges(children: SQL, which: "all" | "stranded"): SQL {
  const pending = sql`(s.agg->>'pending')`;
  const bad = sql`(s.agg->>'bad')`;
  const bytes = sql`(s.agg->>'bytes')`;
  const over = sql`'parents'' results of ' || ${bytes} || ' bytes exceed the ' || ${PARENT_RESULTS_MAX_BYTES} || ' bytes a dependent can receive'`;
  // Materialized: the outer expressions read agg several times, and each read would run its subquery again.
  return sql`
    WITH s AS MATERIALIZED (${childState(children)})
    SELECT id, type, 'created' AS from_status, to_status, attempt, created_at, NULL AS locked_at, pending, bytes,
      CASE to_status WHEN 'created' THEN 'waiting on ' || pending || ' parent(s)' WHEN 'queued' THEN 'parents finished' ELSE error END AS message,
      error
    FROM (
      SELECT s.id, s.type, s.attempts AS attempt, s.created_at, s.waiting_on, ${pending} AS pending, ${bytes} AS bytes, s.agg->>'flagged' AS flagged,
        CASE WHEN ${bad} IS NOT NULL AND s.policy = 'fail' THEN 'failed'
             WHEN ${bad} IS NOT NULL AND s.policy = 'cancel' THEN 'cancelled'
             WHEN ${pending} > 0 THEN 'created'
             WHEN ${bytes} > ${PARENT_RESULTS_MAX_BYTES} THEN 'failed'
             ELSE 'queued' END AS to_status,
        CASE WHEN ${bad} IS NOT NULL AND s.policy IN ('fail', 'cancel') THEN ${why(bad)}
             WHEN ${pending} = 0 AND ${bytes} > ${PARENT_RESULTS_MAX_BYTES} THEN ${over} END AS error
      FROM s)
    WHERE ${which === "all" ? sql`NOT (to_status = 'created' AND pending = waiting_on)` : sql`to_status <> 'created' AND flagged = 0`}`;
}

/**
 * Moves each round parent's cursor past the edges it covered (NULL when none is left), and flags
 * the children this round failed or cancelled that have dependents of their own (the next round
 * takes those). The round's parents and edges are materialized once, before any row changes: this
 * update moves the very fields the window is chosen by (release_cursor, and updated_at through
 * tasks_touch_updated_at), so a window recomputed per row would mark parents done whose edges the
 * round never visited (issue 20: their children waited forever).
 */
function advanceCursors(now: number): SQL {
  return sql`
    WITH f AS MATERIALIZED (${flaggedParents}),
         e AS MATERIALIZED (${edgesOf(sql`f`)}),
         r AS (
           SELECT f.id, coalesce((SELECT max(e.child_id) FROM e WHERE e.parent_id = f.id), f.release_cursor) AS next, 0 AS failed_child FROM f
           UNION ALL
           SELECT ch.id, NULL, 1 FROM (SELECT DISTINCT child_id FROM e) AS c CROSS JOIN tasks AS ch ON ch.id = c.child_id
           WHERE ch.updated_at = ${now} AND ch.status IN ('failed', 'cancelled') AND ch.has_dependents = 1 AND ch.release_cursor IS NULL)
    UPDATE tasks SET release_cursor = CASE
        WHEN r.failed_child = 1 THEN ''
        WHEN EXISTS (SELECT 1 FROM task_deps WHERE parent_id = r.id AND child_id > r.next) THEN r.next
        ELSE NULL END
    FROM r WHERE tasks.id = r.id
    RETURNING tasks.id AS id, tasks.release_cursor AS cursor`;
}

/** A task a round (or any terminal transition) changed, as its follow-ups need it. */
export interface ChangedTask {
  id: string;
  status: TaskStatus;
  watched: number;
  webhook_state: WebhookState | null;
}

/** What follows from a terminal batch: the tasks to follow up and whether dependency work is left. */
export interface TerminalEffects {
  changed: ChangedTask[];
  /** Flags remain (more edges, newly failed children with dependents): run more rounds. */
  more: boolean;
}

export const FOLLOW_UP_RETURNING = sql`tasks.id AS id, tasks.status AS status, tasks.watched AS watched, tasks.webhook_state AS webhook_state`;

/** What a look at a child writes besides its status: its count, its error, its parents' bytes in its input. */
export const CHILD_SET = sql`waiting_on = c.pending, error = c.error,
  input_bytes = input_bytes + CASE WHEN c.to_status = 'queued' THEN c.bytes ELSE 0 END`;

/** The three statements of one round, to append to a terminal transition's batch. */
export function dependentsRound(actor: EventActor, now: number): [SQL, SQL, SQL] {
  const [rollup, update] = transition({
    changes: childChanges(sql`SELECT DISTINCT child_id FROM (${roundEdges})`, "all"),
    actor,
    now,
    // A child this round fails gets its own flag from advanceCursors, after the round's edges are fixed.
    set: sql`${CHILD_SET}, release_cursor = NULL`,
    returning: sql`RETURNING ${FOLLOW_UP_RETURNING}`,
  });
  return [rollup, update, advanceCursors(now)];
}

/** Reads the results of a round's three statements (the last three of a batch). */
export function roundEffects(results: unknown[][]): TerminalEffects {
  const [, changed = [], cursors = []] = results.slice(-3) as [unknown[], ChangedTask[], { id: string; cursor: string | null }[]];
  const more = cursors.length >= ROUND_PARENTS || cursors.some((c) => c.cursor !== null);
  return { changed, more };
}

/** One round on its own (continuations and the maintenance alarm). */
export async function runDependentsRound(db: Db, actor: EventActor, now: number): Promise<TerminalEffects> {
  return roundEffects(await sqlBatch<[unknown, ChangedTask, unknown]>(db, dependentsRound(actor, now)));
}

/** A task's children, by id, after `after` (a page of the edge table). */
export async function listDependents(db: Db, parentId: string, limit: number, after = ""): Promise<{ id: string; status: TaskStatus; type: string }[]> {
  return db.all(sql`
    SELECT t.id, t.status, t.type FROM task_deps AS d CROSS JOIN tasks AS t ON t.id = d.child_id
    WHERE d.parent_id = ${parentId} AND d.child_id > ${after} ORDER BY d.child_id LIMIT ${limit}`);
}
