import type { SQL } from "drizzle-orm";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import type { Db } from "./db";

const dialect = new SQLiteAsyncDialect();

/**
 * Runs drizzle `sql` statements as one D1 batch (one transaction) and returns each one's rows.
 * drizzle's own `db.batch` cannot bind parameters of raw `sql` statements (drizzle-orm 0.45), and
 * our set-based statements are raw. `Rows` names the row type of each statement, in order.
 */
export async function sqlBatch<Rows extends unknown[]>(
  db: Db,
  statements: { [K in keyof Rows]: SQL },
): Promise<{ [K in keyof Rows]: Rows[K][] }> {
  const d1 = db.$client;
  const prepared = (statements as SQL[]).map((statement) => {
    const query = dialect.sqlToQuery(statement);
    return d1.prepare(query.sql).bind(...query.params);
  });
  const results = await d1.batch(prepared);
  return results.map((r) => r.results) as { [K in keyof Rows]: Rows[K][] };
}
