import { sql } from "drizzle-orm";
import type { Db } from "./db";

/** Names in metric_counters. */
export const COUNTER = {
  /** Wake-up messages that exhausted the queue's retries and reached the DLQ. */
  wakeupsDeadLettered: "wakeups_dead_lettered",
} as const;

export type CounterName = (typeof COUNTER)[keyof typeof COUNTER];

export async function addToCounter(db: Db, name: CounterName, n: number): Promise<void> {
  await db.run(sql`
    INSERT INTO metric_counters (name, value) VALUES (${name}, ${n})
    ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`);
}
