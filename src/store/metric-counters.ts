import { sql, type SQL } from "drizzle-orm";
import type { Db } from "./db";

/** Named counters (rollups with metric 'counter') for what is not a task transition. */
export const COUNTER = {
  /** Wake-up messages that exhausted the queue's retries and reached the DLQ. */
  wakeupsDeadLettered: "wakeups_dead_lettered",
  /** Completion webhooks that failed every try and reached the webhook DLQ. */
  webhooksDeadLettered: "webhooks_dead_lettered",
  /** Tasks created by cron schedules' slots. */
  scheduleTasksFired: "schedule_tasks_fired",
  /** Cron slots missed and not fired (their schedule's `missed` policy). */
  scheduleSlotsSkipped: "schedule_slots_skipped",
  /** Dependents the maintenance alarm released or failed because no round did: each one is a bug. */
  dependentsRescued: "dependents_rescued",
} as const;

export type CounterName = (typeof COUNTER)[keyof typeof COUNTER];

export async function addToCounter(db: Db, name: CounterName, n: number): Promise<void> {
  await db.run(sql`
    INSERT INTO rollups (metric, bucket, label, n) VALUES ('counter', 0, ${name}, ${n})
    ON CONFLICT (metric, bucket, label) DO UPDATE SET n = n + excluded.n`);
}

/** Adds the number of rows `rows` yields to a counter, as a statement for the batch that makes the change. */
export function counterUpsert(name: CounterName, rows: SQL): SQL {
  return sql`
    INSERT INTO rollups (metric, bucket, label, n) SELECT 'counter', 0, ${name}, count(*) FROM (${rows}) WHERE true
    ON CONFLICT (metric, bucket, label) DO UPDATE SET n = n + excluded.n`;
}
