import { sql } from "drizzle-orm";
import type { WebhookState } from "../db/schema";
import { chunkJsonArray, D1_JSON_BUDGET_BYTES } from "../lib/platform-limits";
import type { Db } from "./db";
import { fromRawRow, type RawTaskRow } from "./raw-row";
import { timelineEntry } from "./timeline-codec";
import { appendTimelineEntry } from "./transition";
import type { TaskRow } from "../db/schema";

/** A webhook the alarm sends again: pending this long (its send after the commit was lost). */
export const WEBHOOK_PENDING_RESEND_MS = 30_000;
/**
 * …or sent, with its next try (webhook_due_at) overdue this long and no attempt recorded: the
 * queue message was lost (a crash between taking and sending it, a restarted local queue). With
 * the alarm's 15 s tick, such a webhook goes out again within a minute of when it was due.
 */
export const WEBHOOK_LOST_AFTER_MS = 45_000;

/**
 * Takes pending webhooks of these tasks for sending: pending → sent, so a concurrent sender (the
 * alarm) does not send them too. Returns the ids taken.
 */
export async function takePendingWebhooks(db: Db, ids: readonly string[], now: number): Promise<string[]> {
  const taken: string[] = [];
  for (const chunk of chunkJsonArray(ids, D1_JSON_BUDGET_BYTES)) {
    const rows = await db.all<{ id: string }>(sql`
      UPDATE tasks SET webhook_state = 'sent', webhook_due_at = ${now}, updated_at = ${now}
      WHERE id IN (SELECT value FROM json_each(${chunk.json})) AND webhook_state = 'pending'
      RETURNING id`);
    taken.push(...rows.map((r) => r.id));
  }
  return taken;
}

/** A send that failed: pending again, for the alarm to retry. */
export async function returnWebhooks(db: Db, ids: readonly string[]): Promise<void> {
  for (const chunk of chunkJsonArray(ids, D1_JSON_BUDGET_BYTES)) {
    await db.run(sql`UPDATE tasks SET webhook_state = 'pending' WHERE id IN (SELECT value FROM json_each(${chunk.json})) AND webhook_state = 'sent'`);
  }
}

/**
 * The alarm's backstop: webhooks whose send was lost, taken for sending again (ranges of
 * tasks_webhook_idx). A sent row's due time is never before its last write by us, so the
 * `updated_at` range bounds the scan; the due time decides (NULL, which no writer of 'sent'
 * leaves, falls back to the last write).
 */
export async function takeStaleWebhooks(db: Db, now: number, limit: number): Promise<string[]> {
  const lostBefore = now - WEBHOOK_LOST_AFTER_MS;
  const rows = await db.all<{ id: string }>(sql`
    UPDATE tasks SET webhook_state = 'sent', webhook_due_at = ${now}, updated_at = ${now}
    WHERE id IN (
      SELECT id FROM tasks INDEXED BY tasks_webhook_idx WHERE webhook_state = 'pending' AND updated_at < ${now - WEBHOOK_PENDING_RESEND_MS}
      UNION ALL
      SELECT id FROM tasks INDEXED BY tasks_webhook_idx
      WHERE webhook_state = 'sent' AND updated_at < ${lostBefore} AND coalesce(webhook_due_at, updated_at) < ${lostBefore}
      LIMIT ${limit})
    RETURNING id`);
  return rows.map((r) => r.id);
}

/** The tasks whose webhooks a consumer batch delivers. */
export async function tasksById(db: Db, ids: readonly string[]): Promise<TaskRow[]> {
  const rows = await db.all<RawTaskRow>(sql`
    SELECT t.* FROM json_each(${JSON.stringify(ids)}) AS j CROSS JOIN tasks AS t ON t.id = j.value`);
  return rows.map(fromRawRow);
}

export interface WebhookAttempt {
  id: string;
  /** Shown in the timeline: "webhook 200", "webhook 500, retry 2 in 20s". */
  message: string;
  state: WebhookState;
  /** When the next try is due (epoch ms), or null when none follows. */
  next_try_at: number | null;
}

/**
 * Records delivery attempts in the tasks' timelines (actor `webhook`, from and to the task's
 * status). Not a status change, so it bypasses the transition primitive and the rollups.
 */
export async function recordWebhookAttempts(db: Db, attempts: readonly WebhookAttempt[], now: number): Promise<void> {
  const entry = timelineEntry({ at: now, createdAt: sql`tasks.created_at`, from: sql`tasks.status`, to: sql`tasks.status`, attempt: sql`tasks.attempts`, actor: "webhook", message: sql`j.value->>'message'` });
  for (const chunk of chunkJsonArray(attempts, D1_JSON_BUDGET_BYTES)) {
    await db.run(sql`
      UPDATE tasks SET events = ${appendTimelineEntry(entry)}, webhook_state = j.value->>'state', webhook_due_at = j.value->>'next_try_at', updated_at = ${now}
      FROM json_each(${chunk.json}) AS j WHERE tasks.id = j.value->>'id'`);
  }
}
