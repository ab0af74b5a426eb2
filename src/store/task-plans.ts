import { sql } from "drizzle-orm";
import type { PlanStore } from "../dispatch/run-plans";
import { chunkJsonArray, D1_JSON_BUDGET_BYTES } from "../lib/platform-limits";
import type { Db } from "./db";
import { appendTimelineEntry } from "./transition";

/**
 * Plans and their progress in the task rows, fenced like outcomes (`status='running' AND
 * locked_by=<token>`): a pass that lost its claim writes nothing. One statement per chunk of a
 * round, whatever the number of tasks. Step entries join the timeline but are not transitions.
 */
export function taskPlanStore(db: Db, token: string, now: () => number): PlanStore {
  const fenced = sql`tasks.id = j.value->>'id' AND +tasks.status = 'running' AND tasks.locked_by = ${token}`;
  return {
    async save(plans) {
      for (const chunk of chunkJsonArray(plans, D1_JSON_BUDGET_BYTES)) {
        await db.run(sql`UPDATE tasks SET plan = json(j.value->'plan') FROM json_each(${chunk.json}) AS j WHERE ${fenced}`);
      }
    },
    async recordSteps(steps) {
      const at = now();
      const entry = sql`json_array(${at}, 'running', 'running', tasks.attempts, 'dispatcher', j.value->>'message')`;
      for (const chunk of chunkJsonArray(steps, D1_JSON_BUDGET_BYTES)) {
        await db.run(sql`
          UPDATE tasks SET plan = json_insert(tasks.plan, '$.done[#]', json(j.value->'outcome')), events = ${appendTimelineEntry(entry)}
          FROM json_each(${chunk.json}) AS j WHERE ${fenced}`);
      }
    },
  };
}
