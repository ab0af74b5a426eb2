import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import { cursorPosition, literalLimit, tasksInOrder, walkOrder } from "../../src/store/tasks-in-order";

const dialect = new SQLiteSyncDialect();

describe("literalLimit", () => {
  it("writes a whole number into the SQL itself, so SQLite can size the subquery by it", () => {
    expect(dialect.sqlToQuery(literalLimit(1000))).toEqual({ sql: "1000", params: [] });
    expect(dialect.sqlToQuery(literalLimit(0)).sql).toBe("0");
  });

  it("refuses anything that is not a whole number (nothing else may reach the SQL text)", () => {
    for (const bad of [1.5, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) expect(() => literalLimit(bad)).toThrow(RangeError);
  });
});

describe("tasksInOrder", () => {
  it("walks every status unless told, one range of the type-and-status index each (two for queued, one per lane), cut at the limit", () => {
    const q = dialect.sqlToQuery(tasksInOrder({ direction: "newest", limit: 7 }));
    expect(q.sql).toContain("INDEXED BY tasks_type_status_idx");
    expect(q.sql).toMatch(/ORDER BY created_at DESC, rowid DESC LIMIT \?\)/);
    expect(q.sql).toMatch(/LIMIT 7$/);
    expect(q.sql).toContain("status = st.status AND lane = st.lane");
    expect(JSON.parse(q.params[0] as string)).toEqual([["created", 0], ["queued", 0], ["queued", 1], ["running", 0], ["completed", 0], ["failed", 0], ["retry", 0], ["cancelled", 0]]);
  });

  it("oldest first continues after the cursor; newest first before it", () => {
    const older = dialect.sqlToQuery(tasksInOrder({ direction: "oldest", statuses: ["created"], after: { at: 5, rowid: 9 }, limit: 3 }));
    expect(older.sql).toContain("(created_at, rowid) > (?, ?)");
    const newer = dialect.sqlToQuery(tasksInOrder({ direction: "newest", type: "ping", after: { at: 5, rowid: 9 }, limit: 3 }));
    expect(newer.sql).toContain("(created_at, rowid) < (?, ?)");
    expect(newer.sql).toContain("SELECT type FROM task_types WHERE type = ?");
  });
});

describe("cursorPosition", () => {
  it("takes a cursor's rowid as it is", () => {
    expect(cursorPosition({ createdAt: 5, rowid: 9 })).toEqual({ at: 5, rowid: 9 });
  });

  it("looks a legacy cursor's id up, and past every rowid when that row is gone (its millisecond repeats, none is skipped)", () => {
    const p = cursorPosition({ createdAt: 5, id: "3f2a9c1e-1234-4abc-8def-0123456789ab" });
    const q = dialect.sqlToQuery(tasksInOrder({ direction: "newest", after: p, limit: 3 }));
    expect(q.sql).toContain("(created_at, rowid) < (?, coalesce((SELECT rowid FROM tasks WHERE id = ?), ?))");
    expect(q.params).toEqual(expect.arrayContaining([5, "3f2a9c1e-1234-4abc-8def-0123456789ab", Number.MAX_SAFE_INTEGER]));
  });
});

describe("walkOrder", () => {
  it("orders by created_at, then rowid (submission order within a millisecond)", () => {
    const rows = [{ created_at: 5, rowid: 9 }, { created_at: 4, rowid: 20 }, { created_at: 5, rowid: 2 }];
    expect([...rows].sort(walkOrder)).toEqual([{ created_at: 4, rowid: 20 }, { created_at: 5, rowid: 2 }, { created_at: 5, rowid: 9 }]);
  });
});
