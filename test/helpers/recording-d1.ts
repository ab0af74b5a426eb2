export interface RecordedStatement {
  sql: string;
  params: unknown[];
  /** Bytes of the rows it returned (JSON), once it has run. */
  resultBytes?: number;
  /** How many rows it returned, once it has run. */
  rows?: number;
  /** D1's own count of rows it read and wrote (meta), once it has run; what D1 bills. */
  rowsRead?: number;
  rowsWritten?: number;
  /** Bytes of the largest single value (column of a row) it returned, once it has run. */
  maxValueBytes?: number;
}

const encoder = new TextEncoder();
const jsonBytes = (value: unknown) => encoder.encode(JSON.stringify(value) ?? "").length;
const valueBytes = (value: unknown) => (typeof value === "string" ? encoder.encode(value).length : value instanceof ArrayBuffer ? value.byteLength : 0);

/** The largest string or BLOB among the returned rows' columns: D1 refuses to build one past its value limit. */
function largestValue(rows: unknown[]): number {
  let max = 0;
  for (const row of rows) if (row !== null && typeof row === "object") for (const v of Object.values(row)) max = Math.max(max, valueBytes(v));
  return max;
}

/**
 * A D1 binding that logs every statement it prepares and binds (and the size of what it
 * returned), then runs it for real. The statements handed to batch() are the binding's own.
 */
export function recordingD1(real: D1Database, log: RecordedStatement[]): D1Database {
  const entries = new WeakMap<D1PreparedStatement, RecordedStatement>();
  // Bound statements are handed out wrapped (so their own runs are recorded); batch() gets the real ones back.
  const unwrapped = new WeakMap<D1PreparedStatement, D1PreparedStatement>();
  const recordResult = <T>(entry: RecordedStatement | undefined, result: T): T => {
    if (!entry) return result;
    const rows = (result as { results?: unknown })?.results;
    entry.resultBytes = jsonBytes(rows ?? result);
    const meta = (result as { meta?: { rows_read?: number; rows_written?: number } })?.meta;
    if (meta?.rows_read !== undefined) entry.rowsRead = meta.rows_read;
    if (meta?.rows_written !== undefined) entry.rowsWritten = meta.rows_written;
    if (Array.isArray(rows)) {
      entry.rows = rows.length;
      entry.maxValueBytes = largestValue(rows);
    }
    return result;
  };
  /** Records what the statement's run returns; `bind` binds the real statement and wraps that. */
  const recording = (stmt: D1PreparedStatement, entry: RecordedStatement): D1PreparedStatement => {
    entries.set(stmt, entry);
    const wrapped = new Proxy(stmt, {
      get(s, k) {
        if (k === "bind") {
          return (...params: unknown[]) => {
            entry.params = params;
            return recording(s.bind(...params), entry);
          };
        }
        const value: unknown = Reflect.get(s, k);
        if (typeof value !== "function") return value;
        return async (...args: unknown[]) => recordResult(entry, await (value as (...a: unknown[]) => Promise<unknown>).apply(s, args));
      },
    });
    unwrapped.set(wrapped, stmt);
    return wrapped;
  };
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "prepare") {
        return (query: string) => {
          const entry: RecordedStatement = { sql: query, params: [] };
          log.push(entry);
          return recording(target.prepare(query), entry);
        };
      }
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const own = statements.map((s) => unwrapped.get(s) ?? s);
          const results = await target.batch(own);
          results.forEach((r, i) => recordResult(entries.get(own[i]!), r));
          return results;
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
