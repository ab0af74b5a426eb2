/**
 * Wraps a D1 binding to count the statements it runs, so a long-running invocation (the queue
 * consumer, the maintenance alarm) can stop before D1's per-invocation query limit.
 */
export function countStatements(d1: D1Database): { d1: D1Database; count: () => number } {
  let n = 0;
  const counting = new Proxy(d1, {
    get(target, prop) {
      if (prop === "batch") {
        return (statements: D1PreparedStatement[]) => {
          n += statements.length;
          return target.batch(statements.map((s) => unwrapped.get(s) ?? s));
        };
      }
      if (prop === "exec") {
        return (query: string) => {
          n++;
          return target.exec(query);
        };
      }
      if (prop === "prepare") return (query: string) => countRuns(target.prepare(query), () => n++);
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { d1: counting, count: () => n };
}

const RUNS = new Set<PropertyKey>(["run", "all", "first", "raw"]);
/** The binding's own statement behind each wrapper: batch() is handed those, not proxies. */
const unwrapped = new WeakMap<D1PreparedStatement, D1PreparedStatement>();

/** A prepared statement that calls `onRun` when executed on its own (batches count themselves). */
function countRuns(statement: D1PreparedStatement, onRun: () => void): D1PreparedStatement {
  const wrapper = new Proxy(statement, {
    get(target, prop) {
      if (prop === "bind") return (...values: unknown[]) => countRuns(target.bind(...values), onRun);
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      if (RUNS.has(prop)) {
        return (...args: unknown[]) => {
          onRun();
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  unwrapped.set(wrapper, statement);
  return wrapper;
}
