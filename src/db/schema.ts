import { sql } from "drizzle-orm";
import type { StoredExecution } from "../store/execution-codec";
import type { StoredTimelineEntry } from "../store/timeline-codec";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Task statuses, lowercase everywhere (D1 and JSON). */
export const TASK_STATUSES = ["created", "queued", "running", "completed", "failed", "retry", "cancelled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const TERMINAL_STATUSES: readonly TaskStatus[] = ["completed", "failed", "cancelled"];

/** `webhook`: a delivery attempt of the completion webhook (a timeline entry, not a status change). */
/** What a dependent does when a parent fails or is cancelled. */
export const PARENT_FAILURE_POLICIES = ["fail", "cancel", "run"] as const;
export type ParentFailurePolicy = (typeof PARENT_FAILURE_POLICIES)[number];

/** Completion webhook of a task with a callback_url: pending → sent → delivered | failed. */
export const WEBHOOK_STATES = ["pending", "sent", "delivered", "failed"] as const;
export type WebhookState = (typeof WEBHOOK_STATES)[number];

export const EVENT_ACTORS = ["api", "dispatcher", "reaper", "dlq", "webhook"] as const;
export type EventActor = (typeof EVENT_ACTORS)[number];
/** Who may change a task: the timeline's actors, and retention, which only deletes (so writes no entry). */
export const TRANSITION_ACTORS = [...EVENT_ACTORS, "retention"] as const;
export type TransitionActor = (typeof TRANSITION_ACTORS)[number];

/** Mirrors migrations/ (0001–0015); times are epoch milliseconds. */
export const tasks = sqliteTable(
  "tasks",
  {
    id: text("id").primaryKey(),
    status: text("status", { enum: TASK_STATUSES }).notNull().default("created"),
    attempts: integer("attempts").notNull().default(0),
    maxAttempts: integer("max_attempts").notNull().default(3),
    type: text("type").notNull(),
    description: text("description"),
    domain: text("domain"),
    driftScore: real("drift_score").notNull().default(0),
    params: text("params", { mode: "json" }).$type<Record<string, unknown>>().notNull().default(sql`'{}'`),
    result: text("result", { mode: "json" }).$type<unknown>(),
    error: text("error"),
    runAfter: integer("run_after"),
    lockedBy: text("locked_by"),
    /** Set by a claim, NULL again once an outcome is written: the API reads the last claim's time from the timeline then (migration 0014). */
    lockedAt: integer("locked_at"),
    leaseExpiresAt: integer("lease_expires_at"),
    /** NULL from a claim until the task's first heartbeat: it reads as locked_at (migration 0014). */
    lastHeartbeat: integer("last_heartbeat"),
    idempotencyKey: text("idempotency_key"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    priority: integer("priority").notNull().default(0),
    inputBytes: integer("input_bytes").notNull().default(0),
    requestHash: text("request_hash"),
    /**
     * 1 for a queued task with a run_after, a head start or a key (claimed by order key through the
     * due indexes), else 0: a plain queued task is claimed from tasks_type_status_idx (claim-lane.ts,
     * migration 0015; a trigger refuses a lane that disagrees).
     */
    lane: integer("lane").notNull().default(0),
    sortKey: integer("sort_key").generatedAlwaysAs(sql`max(created_at, coalesce(run_after, 0)) - priority * 1000`, { mode: "virtual" }),
    /** The timeline, coded (store/timeline-codec.ts; read it with timelineOf). */
    events: text("events", { mode: "json" }).$type<StoredTimelineEntry[]>().notNull().default(sql`'[]'`),
    /** Parent ids (JSON array), NULL when the task has none; see migrations/0007. */
    dependsOn: text("depends_on", { mode: "json" }).$type<string[]>(),
    onParentFailure: text("on_parent_failure", { enum: PARENT_FAILURE_POLICIES }),
    /** Parents not finished yet; > 0 only while the task waits in `created`. */
    waitingOn: integer("waiting_on").notNull().default(0),
    hasDependents: integer("has_dependents").notNull().default(0),
    releaseCursor: text("release_cursor"),
    callbackUrl: text("callback_url"),
    webhookState: text("webhook_state", { enum: WEBHOOK_STATES }),
    /** When a sent webhook's next try is due (migration 0010); the alarm re-sends it once overdue. */
    webhookDueAt: integer("webhook_due_at"),
    watched: integer("watched").notNull().default(0),
    // Flow control (migration 0006).
    concurrencyKey: text("concurrency_key"),
    concurrencyLimit: integer("concurrency_limit"),
    // What a task's code leaves while it runs (migration 0011). `logs` is not mapped: lists and
    // reads of a task never carry it; the timeline route reads it on its own (store/task-logs.ts).
    progress: text("progress", { mode: "json" }).$type<StoredProgress>(),
    heartbeatDetails: text("heartbeat_details", { mode: "json" }).$type<unknown>(),
    execution: text("execution", { mode: "json" }).$type<StoredExecution>(),
    // Migration 0004's column `plan` is no longer written or read: a plan and its finished steps
    // are rows of task_steps, like ctx.step's (migration 0011), so it is not mapped.
    // Migration 0008 leaves the column `held` in place, unread and unwritten (dropping it would
    // rewrite every row in one statement); it is not mapped here.
  },
  (t) => [
    uniqueIndex("tasks_idempotency_key_uq").on(t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
    index("tasks_due_idx").on(t.type, t.sortKey, t.id).where(sql`status IN ('queued', 'retry') AND concurrency_key IS NULL AND (status = 'retry' OR lane = 1)`),
    index("tasks_key_due_idx").on(t.concurrencyKey, t.type, t.sortKey, t.id).where(sql`status IN ('queued', 'retry') AND concurrency_key IS NOT NULL`),
    index("tasks_key_created_idx").on(t.concurrencyKey, t.createdAt, t.id).where(sql`concurrency_key IS NOT NULL`),
    index("tasks_waiting_idx").on(t.runAfter).where(sql`status IN ('queued', 'retry') AND run_after IS NOT NULL`),
    index("tasks_type_status_idx").on(t.type, t.status, t.lane, t.createdAt),
    index("tasks_domain_created_idx").on(t.domain, t.createdAt, t.id).where(sql`domain IS NOT NULL`),
    index("tasks_release_idx").on(t.updatedAt, t.id).where(sql`release_cursor IS NOT NULL`),
    index("tasks_webhook_idx").on(t.webhookState, t.updatedAt).where(sql`webhook_state IS NOT NULL`),
  ],
);

/** Parent → child edges of the dependency graph (the child's own list is tasks.depends_on). */
export const taskDeps = sqliteTable(
  "task_deps",
  { parentId: text("parent_id").notNull(), childId: text("child_id").notNull() },
  (t) => [primaryKey({ columns: [t.parentId, t.childId] }), index("task_deps_child_idx").on(t.childId)],
);

/** The last ctx.progress() a task stored. */
export interface StoredProgress {
  current: number;
  total: number | null;
  message: string | null;
  at: number;
}

/** One state change in a task's timeline. */
export type TimelineEntry = [at: number, from: TaskStatus | null, to: TaskStatus, attempt: number, actor: EventActor, message: string | null];

/** Counters, gauges (net transitions), histograms and per-minute figures; see migrations/0003. */
export const rollups = sqliteTable(
  "rollups",
  {
    metric: text("metric").notNull(),
    bucket: integer("bucket").notNull().default(0),
    label: text("label").notNull().default(""),
    n: integer("n").notNull().default(0),
    total: integer("total").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.metric, t.bucket, t.label] })],
);

/** Per concurrency key: its limit, its waiting and running counts (kept by triggers), its turn. */
export const concurrencyKeys = sqliteTable(
  "concurrency_keys",
  {
    key: text("key").primaryKey(),
    maxRunning: integer("max_running").notNull().default(1),
    waiting: integer("waiting").notNull().default(0),
    running: integer("running").notNull().default(0),
    paused: integer("paused").notNull().default(0),
    servedAt: integer("served_at").notNull().default(0),
  },
  (t) => [index("concurrency_keys_turn_idx").on(t.servedAt, t.key).where(sql`waiting > 0 AND paused = 0 AND running < max_running`)],
);

/** One row per task type ever submitted: its paused flag (counts per status come from the transition rollups). */
export const taskTypes = sqliteTable("task_types", {
  type: text("type").primaryKey(),
  paused: integer("paused").notNull().default(0),
});

export const MISSED_POLICIES = ["skip", "once", "all"] as const;
export type MissedPolicy = (typeof MISSED_POLICIES)[number];

/** Cron schedules; `task` is the template (a TaskInput without idempotency_key) as JSON. */
export const schedules = sqliteTable(
  "schedules",
  {
    name: text("name").primaryKey(),
    cron: text("cron").notNull(),
    timezone: text("timezone").notNull().default("UTC"),
    task: text("task", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    missed: text("missed", { enum: MISSED_POLICIES }).notNull().default("skip"),
    maxCatchup: integer("max_catchup").notNull().default(100),
    paused: integer("paused").notNull().default(0),
    nextRunAt: integer("next_run_at"),
    lastRunAt: integer("last_run_at"),
    lastTaskId: text("last_task_id"),
    fired: integer("fired").notNull().default(0),
    skipped: integer("skipped").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("schedules_due_idx").on(t.nextRunAt).where(sql`next_run_at IS NOT NULL`)],
);

export type ScheduleRow = typeof schedules.$inferSelect;

/** Where each maintenance scan left off, as (created_at, rowid) of the last row it looked at, and when it may go on (migrations/0009, 0014). */
export const maintenanceCursors = sqliteTable("maintenance_cursors", {
  name: text("name").primaryKey(),
  at: integer("at").notNull(),
  taskRowid: integer("task_rowid").notNull(),
  notBefore: integer("not_before").notNull().default(0),
});

/** Statuses a pass may claim from; the due index covers exactly these. */
export const CLAIMABLE_STATUSES = ["queued", "retry"] as const satisfies readonly TaskStatus[];

export type TaskRow = typeof tasks.$inferSelect;
export type NewTaskRow = typeof tasks.$inferInsert;
