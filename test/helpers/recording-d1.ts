export interface RecordedStatement {
  sql: string;
  params: unknown[];
}

/** A D1 binding that logs every statement it prepares and binds, then runs it for real. */
export function recordingD1(real: D1Database, log: RecordedStatement[]): D1Database {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "prepare") {
        return (query: string) => {
          const stmt = target.prepare(query);
          log.push({ sql: query, params: [] });
          const entry = log[log.length - 1]!;
          return new Proxy(stmt, {
            get(s, k) {
              if (k === "bind") {
                return (...params: unknown[]) => {
                  entry.params = params;
                  return s.bind(...params);
                };
              }
              const value: unknown = Reflect.get(s, k);
              return typeof value === "function" ? value.bind(s) : value;
            },
          });
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
