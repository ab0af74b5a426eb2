import type { TaskEventRow } from "../db/schema";
import { toIso } from "../lib/time";

export function eventToJson(e: TaskEventRow) {
  return {
    at: toIso(e.at) as string,
    from_status: e.fromStatus,
    to_status: e.toStatus,
    attempt: e.attempt,
    actor: e.actor,
    message: e.message,
  };
}
