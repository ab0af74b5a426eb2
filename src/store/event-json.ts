import type { TimelineEntry } from "../db/schema";
import { toIso } from "../lib/time";

/** One timeline entry as the API shows it. */
export function eventToJson([at, from_status, to_status, attempt, actor, message]: TimelineEntry) {
  return { at: toIso(at) as string, from_status, to_status, attempt, actor, message };
}
