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

  it("writes at FIRST_FLUSH_MS × 2^k after the pass started, so a task ending at t is written by 2t", async () => {
    const { r, writes } = recorder(20);
    r.add(ok("a"));
    await vi.advanceTimersByTimeAsync(FIRST_FLUSH_MS); // 10: written
    r.add(ok("b"));
    await vi.advanceTimersByTimeAsync(FIRST_FLUSH_MS - 1);
    expect(writes.map((w) => w.ids)).toEqual([["a"]]);
    await vi.advanceTimersByTimeAsync(1); // 2F: written
    await vi.advanceTimersByTimeAsync(FIRST_FLUSH_MS / 2);
    r.add(ok("c")); // at 2.5F: the next boundary is 4F
    await vi.advanceTimersByTimeAsync(47.5 * FIRST_FLUSH_MS);
    r.add(ok("d")); // at 50F: the next boundary is 64F
    await vi.advanceTimersByTimeAsync(14 * FIRST_FLUSH_MS);
    expect(writes).toEqual([
      { at: FIRST_FLUSH_MS, ids: ["a"] },
      { at: 2 * FIRST_FLUSH_MS, ids: ["b"] },
      { at: 4 * FIRST_FLUSH_MS, ids: ["c"] },
      { at: 64 * FIRST_FLUSH_MS, ids: ["d"] },
    ]);
    await r.close();
  });

  it("writes the pass's last outcome at once: nothing else can join it", async () => {
    const { r, writes } = recorder(20);
    r.add(ok("a"));
    r.add(ok("b"), true);
    await vi.advanceTimersByTimeAsync(0);
    expect(writes).toEqual([{ at: 0, ids: ["a", "b"] }]);
    await vi.advanceTimersByTimeAsync(FIRST_FLUSH_MS);
    await r.close();
    expect(writes).toHaveLength(1);
  });

  it("starts no timer while nothing is pending: a quiet spell costs no write", async () => {
    const { r, writes } = recorder(20);
    await vi.advanceTimersByTimeAsync(1000 * FIRST_FLUSH_MS);
    expect(writes).toEqual([]);
    r.add(ok("a")); // at 1000F: the next boundary is 1024F
    await vi.advanceTimersByTimeAsync(24 * FIRST_FLUSH_MS);
    expect(writes).toEqual([{ at: 1024 * FIRST_FLUSH_MS, ids: ["a"] }]);
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
  it("bounds the writes over a run of T: one per boundary FIRST_FLUSH_MS × 2^k ≤ T, plus close's; at most the tasks", () => {
    expect(outcomeFlushes(100, 0)).toBe(1);
    expect(outcomeFlushes(100, FIRST_FLUSH_MS - 1)).toBe(1);
    expect(outcomeFlushes(100, FIRST_FLUSH_MS)).toBe(2); // at F, then the last
    expect(outcomeFlushes(100, 2 * FIRST_FLUSH_MS - 1)).toBe(2);
    expect(outcomeFlushes(100, 2 * FIRST_FLUSH_MS)).toBe(3); // at F and 2F
    expect(outcomeFlushes(100, 123_000)).toBe(Math.floor(Math.log2(123_000 / FIRST_FLUSH_MS)) + 2);
    expect(outcomeFlushes(5, 123_000)).toBe(5);
    expect(outcomeFlushes(1, 123_000)).toBe(1);
    expect(outcomeFlushes(0, 123_000)).toBe(1);
  });

  it("is never exceeded by a recorder fed the worst case: an outcome just after every write, over the whole run", async () => {
    vi.useFakeTimers();
    try {
      const runMs = 123_000;
      const max = outcomeFlushes(1000, runMs);
      const { r, writes } = recorder(1000); // no cap of its own
      const start = Date.now();
      let i = 0;
      while (Date.now() - start <= runMs) {
        r.add(ok(`t${i++}`));
        await vi.advanceTimersByTimeAsync(1);
      }
      await r.close();
      expect(writes.length).toBeLessThanOrEqual(max);
    } finally {
      vi.useRealTimers();
    }
  });
});
