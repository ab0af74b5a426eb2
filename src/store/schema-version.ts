import { sql } from "drizzle-orm";
import type { Db } from "./db";
import { errorMessage } from "../lib/error-message";

/** The newest file in migrations/; a test keeps this in step with the folder. */
export const LATEST_MIGRATION = "0015_plain_tasks_claimed_in_order.sql";

export type SchemaCheck = { ok: true } | { ok: false; error: string };

/** Is D1 reachable and migrated up to LATEST_MIGRATION? (`d1_migrations` is wrangler's ledger.) */
export async function checkSchema(db: Db): Promise<SchemaCheck> {
  try {
    const rows = await db.all<{ name: string }>(sql`SELECT name FROM d1_migrations WHERE name = ${LATEST_MIGRATION}`);
    if (rows.length === 0) {
      return { ok: false, error: `migration ${LATEST_MIGRATION} is not applied (run: npx wrangler d1 migrations apply DB)` };
    }
    return { ok: true };
  } catch (err) {
    const message = errorMessage(err);
    if (message.includes("no such table")) {
      return { ok: false, error: "D1 has no migrations applied (run: npx wrangler d1 migrations apply DB)" };
    }
    return { ok: false, error: `D1 unreachable: ${message}` };
  }
}
