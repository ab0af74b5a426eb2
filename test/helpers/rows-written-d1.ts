import { env } from "cloudflare:workers";

type Meta = { meta?: { rows_written?: number; rows_read?: number } };

/**
 * The test D1, summing the rows written and read that D1 itself reports (`meta`) for every
 * statement run on its own or in a batch. Index entries and trigger writes are included: D1
 * counts them, and bills them.
 */
export function rowsCountingD1(real: D1Database = env.DB) {
  const totals = { written: 0, read: 0 };
  const add = <T>(result: T): T => {
    const meta = (result as Meta).meta;
    totals.written += meta?.rows_written ?? 0;
    totals.read += meta?.rows_read ?? 0;
    return result;
  };
  // batch() must be handed the binding's own statements, not these wrappers.
  const own = new WeakMap<D1PreparedStatement, D1PreparedStatement>();
  const wrap = (stmt: D1PreparedStatement): D1PreparedStatement => {
    const wrapper = new Proxy(stmt, {
      get(s, k) {
        if (k === "bind") return (...params: unknown[]) => wrap(s.bind(...params));
        if (k === "all" || k === "run") return async () => add(await s[k]());
        const value: unknown = Reflect.get(s, k);
        return typeof value === "function" ? value.bind(s) : value;
      },
    });
    own.set(wrapper, stmt);
    return wrapper;
  };
  const d1 = new Proxy(real, {
    get(target, prop) {
      if (prop === "prepare") return (query: string) => wrap(target.prepare(query));
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const results = await target.batch(statements.map((s) => own.get(s) ?? s));
          results.forEach(add);
          return results;
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { d1, totals };
}
