import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FIRST_FLUSH_MS, OutcomeRecorder, outcomeFlushes } from "../../src/dispatch/outcome-recorder";
import type { TaskOutcome } from "../../src/organism/task-contracts";

const ok = (id: string): TaskOutcome => ({ id, ok: true, result: null });

/** A recorder over a write that logs each batch's ids and when it was written (fake clock). */
function recorder(maxFlushes: number, write?: (ids: string[]) => Promise<void>) {
  const writes: { at: number; ids: string[] }[] = [];
  const started = Date.now();
  const r = new OutcomeRecorder(async (outcomes) => {
    const ids = outcomes.map((o) => o.id);
    writes.push({ at: Date.now() - started, ids });
    await write?.(ids);
  }, maxFlushes);
  return { r, writes };
}

describe("OutcomeRecorder (group commit)", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("writes outcomes that arrive together as one write, FIRST_FLUSH_MS after the first", async () => {
    const { r, writes } = recorder(10);
    for (const id of ["a", "b", "c"]) r.add(ok(id));
    await vi.advanceTimersByTimeAsync(FIRST_FLUSH_MS - 1);
    expect(writes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(writes).toEqual([{ at: FIRST_FLUSH_MS, ids: ["a", "b", "c"] }]);
    await r.close();
    expect(writes).toHaveLength(1); // nothing left for close
  });

  it("doubles the wait after each write, so a task ending at t is written by about 2t", async () => {
    const { r, writes } = recorder(10);
    r.add(ok("a"));
    await vi.advanceTimersByTimeAsync(FIRST_FLUSH_MS); // written at 10
    r.add(ok("b"));
    await vi.advanceTimersByTimeAsync(2 * FIRST_FLUSH_MS - 1);
    expect(writes.map((w) => w.ids)).toEqual([["a"]]);
    await vi.advanceTimersByTimeAsync(1); // written at 30
    r.add(ok("c"));
    await vi.advanceTimersByTimeAsync(4 * FIRST_FLUSH_MS); // written at 70
    expect(writes).toEqual([
      { at: FIRST_FLUSH_MS, ids: ["a"] },
      { at: 3 * FIRST_FLUSH_MS, ids: ["b"] },
      { at: 7 * FIRST_FLUSH_MS, ids: ["c"] },
    ]);
    await r.close();
  });

  it("starts no timer while nothing is pending: a quiet spell costs no write", async () => {
    const { r, writes } = recorder(10);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(writes).toEqual([]);
    r.add(ok("a"));
    await vi.advanceTimersByTimeAsync(FIRST_FLUSH_MS);
    expect(writes).toEqual([{ at: 10_000 + FIRST_FLUSH_MS, ids: ["a"] }]);
    await r.close();
    expect(writes).toHaveLength(1);
  });

  it("never makes more than maxFlushes writes: past maxFlushes - 1, the rest waits for close", async () => {
    const max = 4;
    const { r, writes } = recorder(max);
    let wait = FIRST_FLUSH_MS;
    for (let i = 0; i < 20; i++) {
      r.add(ok(`t${i}`));
      await vi.advanceTimersByTimeAsync(wait);
      wait *= 2;
    }
    expect(writes.map((w) => w.ids)).toEqual([["t0"], ["t1"], ["t2"]]);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(writes).toHaveLength(max - 1);
    await r.close();
    expect(writes).toHaveLength(max);
    expect(writes.at(-1)!.ids).toEqual(Array.from({ length: 17 }, (_, i) => `t${i + 3}`));
  });

  it("with maxFlushes 1, only close writes", async () => {
    const { r, writes } = recorder(1);
    r.add(ok("a"));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(writes).toEqual([]);
    r.add(ok("b"));
    await r.close();
    expect(writes.map((w) => w.ids)).toEqual([["a", "b"]]);
  });

  it("close writes what is pending at once (no wait for the timer) and waits for every write", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const done: string[][] = [];
    const { r, writes } = recorder(10, async (ids) => {
      if (ids.includes("a")) await gate;
      done.push(ids);
    });
    r.add(ok("a"));
    await vi.advanceTimersByTimeAsync(FIRST_FLUSH_MS); // the first write starts and hangs
    r.add(ok("b"));
    let closed = false;
    const closing = r.close().then(() => void (closed = true));
    await vi.advanceTimersByTimeAsync(0);
    // Writes never overlap: b waits behind a, and close waits for both.
    expect(writes.map((w) => w.ids)).toEqual([["a"]]);
    expect(closed).toBe(false);
    release();
    await closing;
    expect(done).toEqual([["a"], ["b"]]);
  });

  it("a failed write does not stop the later ones; close rethrows the first failure", async () => {
    const { r, writes } = recorder(10, async (ids) => {
      if (ids.includes("a")) throw new Error("D1 down");
      if (ids.includes("b")) throw new Error("second failure");
    });
    r.add(ok("a"));
    await vi.advanceTimersByTimeAsync(FIRST_FLUSH_MS);
    r.add(ok("b"));
    await vi.advanceTimersByTimeAsync(2 * FIRST_FLUSH_MS);
    r.add(ok("c"));
    await expect(r.close()).rejects.toThrow("D1 down");
    expect(writes.map((w) => w.ids)).toEqual([["a"], ["b"], ["c"]]);
  });

  it("close with nothing added writes nothing", async () => {
    const { r, writes } = recorder(5);
    await r.close();
    expect(writes).toEqual([]);
  });
});

describe("outcomeFlushes", () => {
  it("bounds the writes the doubling waits allow over a run: log2(T / FIRST_FLUSH_MS + 1) + 1, at least 1, at most the tasks", () => {
    expect(outcomeFlushes(100, 0)).toBe(1);
    expect(outcomeFlushes(100, FIRST_FLUSH_MS)).toBe(2); // one timed write at 10 ms, then close's
    expect(outcomeFlushes(100, 3 * FIRST_FLUSH_MS)).toBe(3); // at 10 and 30 ms
    expect(outcomeFlushes(100, 3 * FIRST_FLUSH_MS - 1)).toBe(2);
    expect(outcomeFlushes(100, 123_000)).toBe(Math.floor(Math.log2(12_301)) + 1);
    expect(outcomeFlushes(5, 123_000)).toBe(5);
    expect(outcomeFlushes(1, 123_000)).toBe(1);
    expect(outcomeFlushes(0, 123_000)).toBe(1);
  });

  it("is never exceeded by a recorder fed the worst case: one outcome per timed write over the whole run", async () => {
    vi.useFakeTimers();
    try {
      const runMs = 123_000;
      const max = outcomeFlushes(1000, runMs);
      const { r, writes } = recorder(1000);
      // A recorder with no cap, fed one outcome as soon as each write is done, for the whole run.
      const start = Date.now();
      let i = 0;
      while (Date.now() - start <= runMs) {
        r.add(ok(`t${i++}`));
        await vi.advanceTimersByTimeAsync(FIRST_FLUSH_MS * 2 ** writes.length);
      }
      await r.close();
      expect(writes.length).toBeLessThanOrEqual(max + 1);
      // The cap the pass uses holds it to exactly max.
      const capped = recorder(max);
      for (let j = 0; j < i; j++) {
        capped.r.add(ok(`t${j}`));
        await vi.advanceTimersByTimeAsync(FIRST_FLUSH_MS * 2 ** j);
      }
      await capped.r.close();
      expect(capped.writes).toHaveLength(max);
    } finally {
      vi.useRealTimers();
    }
  });
});
