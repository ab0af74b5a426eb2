import { sql, type SQL } from "drizzle-orm";
import { CLAIMABLE_STATUSES, TERMINAL_STATUSES, type TaskStatus } from "../db/schema";

/**
 * A status set as SQL, built from the TypeScript constants so code and SQL cannot disagree. The
 * values are our own constants, emitted as literals so SQLite can match a query to a partial
 * index's predicate (`WHERE status IN ('queued', 'retry')`).
 */
export const statusSet = (statuses: readonly TaskStatus[]): SQL => sql.raw(`(${statuses.map((s) => `'${s}'`).join(", ")})`);

export const CLAIMABLE = statusSet(CLAIMABLE_STATUSES);
export const TERMINAL = statusSet(TERMINAL_STATUSES);
