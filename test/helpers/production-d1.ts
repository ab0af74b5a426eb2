import { D1_LIMITS, utf8Bytes } from "../../src/lib/platform-limits";

/** What Cloudflare's D1 answers for a value over its limit. */
export const TOO_BIG = "D1_ERROR: string or blob too big: SQLITE_TOOBIG";

const bytesOf = (v: unknown): number =>
  typeof v === "string" ? utf8Bytes(v) : v instanceof ArrayBuffer ? v.byteLength : ArrayBuffer.isView(v) ? v.byteLength : 0;

const overLimit = (values: Iterable<unknown>) => [...values].some((v) => bytesOf(v) > D1_LIMITS.valueBytes);

/**
 * The shape every task state change has (src/store/transition.ts):
 * `UPDATE tasks SET … FROM (<changes>) AS c WHERE tasks.id = c.id RETURNING …`.
 */
const TRANSITION = /^\s*UPDATE tasks SET ([\s\S]*?)\s+FROM \(([\s\S]*)\) AS c\s+WHERE tasks\.id = c\.id\s+RETURNING ([\s\S]*)$/;

interface Prepared {
  real: D1PreparedStatement;
  sql: string;
  params: unknown[];
}

/**
 * Would this transition RETURN a value over the limit? Its RETURNING is evaluated, read-only, over
 * the rows its `changes` select, so the refusal comes before anything is written, as D1's does
 * (its statement fails and its batch rolls back).
 */
async function transitionReturnsTooBig(real: D1Database, { sql, params }: Prepared): Promise<boolean> {
  const m = TRANSITION.exec(sql);
  if (!m) return false;
  const [, set = "", changes = "", returning = ""] = m;
  const setParams = (set.match(/\?/g) ?? []).length;
  const preview = `WITH c AS (${changes}) SELECT ${returning} FROM tasks JOIN c ON tasks.id = c.id`;
  const { results } = await real.prepare(preview).bind(...params.slice(setParams)).all<Record<string, unknown>>();
  return results.some((row) => overLimit(Object.values(row)));
}

/**
 * A D1 binding that refuses what Cloudflare's refuses and the local runtime lets through (it
 * allows ≈ 2.2 MB): a statement binding a string or BLOB over D1_LIMITS.valueBytes, or returning
 * one, fails with "string or blob too big" before it writes anything. Task transitions are checked
 * ahead (see transitionReturnsTooBig); any other statement's rows are checked after it ran, which
 * is exact for reads. Check and run go one statement or batch at a time, so a concurrent pass
 * cannot change what a checked statement returns. Compose it under recordingD1 to count only the
 * Worker's own statements.
 */
export function productionD1(real: D1Database): D1Database {
  const prepared = new WeakMap<D1PreparedStatement, Prepared>();
  let last: Promise<unknown> = Promise.resolve();
  const serially = <T>(run: () => Promise<T>): Promise<T> => {
    const next = last.then(run);
    last = next.catch(() => undefined);
    return next;
  };
  const refuseAhead = async (p: Prepared) => {
    if (overLimit(p.params) || (await transitionReturnsTooBig(real, p))) throw new Error(TOO_BIG);
  };
  const refuseRows = <T>(result: T): T => {
    const rows = (result as { results?: unknown[] }).results ?? [];
    if (rows.some((row) => row !== null && typeof row === "object" && overLimit(Object.values(row)))) throw new Error(TOO_BIG);
    return result;
  };
  const wrap = (p: Prepared): D1PreparedStatement => {
    const proxy = new Proxy(p.real, {
      get(target, prop) {
        if (prop === "bind") return (...params: unknown[]) => wrap({ real: target.bind(...params), sql: p.sql, params });
        const value: unknown = Reflect.get(target, prop);
        if (typeof value !== "function") return value;
        if (prop === "run" || prop === "all" || prop === "first" || prop === "raw") {
          return (...args: unknown[]) =>
            serially(async () => {
              await refuseAhead(p);
              const result: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
              return prop === "all" || prop === "run" ? refuseRows(result) : result;
            });
        }
        return value.bind(target);
      },
    });
    prepared.set(proxy, p);
    return proxy;
  };
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrap({ real: target.prepare(sql), sql, params: [] });
      if (prop === "batch") {
        return (statements: D1PreparedStatement[]) =>
          serially(async () => {
            const ps = statements.map((s) => prepared.get(s) ?? { real: s, sql: "", params: [] });
            for (const p of ps) await refuseAhead(p);
            const results = await target.batch(ps.map((p) => p.real));
            results.forEach(refuseRows);
            return results;
          });
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
