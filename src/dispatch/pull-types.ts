import type { Config } from "../config";
import type { TypeFilter } from "../store/claim-due-tasks";
import { pullTypes } from "../tasks/registry";

/**
 * What the dispatcher may claim: every type but the pull types (pull workers lease those through
 * POST /workers/lease). Its wake-ups, its next-due time and the sweeper's "due work waits" probe
 * use the same filter, so a backlog of pull tasks alone never wakes or keeps a dispatcher busy.
 */
export function dispatcherTypes(config: Pick<Config, "TASK_EXECUTORS">): TypeFilter {
  return { except: pullTypes(config) };
}
