import type { TimelineEntry } from "../db/schema";
import { toIso } from "../lib/time";
import type { StoredLogEntry } from "./task-work";

/** One timeline entry as the API shows it. */
export function eventToJson([at, from_status, to_status, attempt, actor, message]: TimelineEntry) {
  return { at: toIso(at) as string, from_status, to_status, attempt, actor, message };
}

/** One ctx.log line as the API shows it. */
export function logToJson([at, attempt, level, message, data]: StoredLogEntry) {
  return { at: toIso(at) as string, attempt, level, message, data };
}
