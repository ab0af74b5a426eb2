import { sql } from "drizzle-orm";
import { index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Task statuses, lowercase everywhere (D1 and JSON). */
export const TASK_STATUSES = ["created", "queued", "running", "completed", "failed", "retry", "cancelled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const TERMINAL_STATUSES: readonly TaskStatus[] = ["completed", "failed", "cancelled"];

export const EVENT_ACTORS = ["api", "dispatcher", "reaper", "dlq"] as const;
export type EventActor = (typeof EVENT_ACTORS)[number];

/** Mirrors migrations/ (0001, 0002); times are epoch milliseconds. */
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
    lockedAt: integer("locked_at"),
    leaseExpiresAt: integer("lease_expires_at"),
    lastHeartbeat: integer("last_heartbeat"),
    idempotencyKey: text("idempotency_key"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    priority: integer("priority").notNull().default(0),
    inputBytes: integer("input_bytes").notNull().default(0),
    requestHash: text("request_hash"),
    sortKey: integer("sort_key").generatedAlwaysAs(sql`max(created_at, coalesce(run_after, 0)) - priority * 1000`, { mode: "virtual" }),
  },
  (t) => [
    uniqueIndex("tasks_idempotency_key_uq").on(t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
    index("tasks_claim_idx").on(t.status, t.runAfter, t.createdAt),
    index("tasks_reaper_idx").on(t.status, t.leaseExpiresAt),
    index("tasks_created_idx").on(t.createdAt),
    index("tasks_type_idx").on(t.type),
    index("tasks_domain_idx").on(t.domain),
    index("tasks_due_idx").on(t.sortKey, t.id).where(sql`status IN ('queued', 'retry')`),
  ],
);

export const taskEvents = sqliteTable(
  "task_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    taskId: text("task_id")
      .notNull()
      .references(() => tasks.id, { onDelete: "cascade" }),
    at: integer("at").notNull(),
    fromStatus: text("from_status", { enum: TASK_STATUSES }),
    toStatus: text("to_status", { enum: TASK_STATUSES }).notNull(),
    attempt: integer("attempt").notNull().default(0),
    actor: text("actor", { enum: EVENT_ACTORS }).notNull(),
    message: text("message"),
  },
  (t) => [index("task_events_task_idx").on(t.taskId, t.id)],
);

/** Durable counters for what is not a task transition (dead-lettered wake-ups). */
export const metricCounters = sqliteTable("metric_counters", {
  name: text("name").primaryKey(),
  value: integer("value").notNull().default(0),
});

/** Statuses a pass may claim from; the due index covers exactly these. */
export const CLAIMABLE_STATUSES = ["queued", "retry"] as const satisfies readonly TaskStatus[];

export type TaskRow = typeof tasks.$inferSelect;
export type NewTaskRow = typeof tasks.$inferInsert;
export type TaskEventRow = typeof taskEvents.$inferSelect;
