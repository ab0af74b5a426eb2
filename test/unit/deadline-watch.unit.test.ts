import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DeadlineWatch } from "../../src/lib/deadline-watch";

describe("DeadlineWatch", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("expires each entry at its time, on one timer, and never an entry whose watch was cancelled", async () => {
    const watch = new DeadlineWatch();
    const expired: string[] = [];
    const t0 = Date.now();
    watch.watch(t0 + 300, () => expired.push("c"));
    const cancelB = watch.watch(t0 + 200, () => expired.push("b"));
    watch.watch(t0 + 100, () => expired.push("a"));
    cancelB();
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(150);
    expect(expired).toEqual(["a"]);
    await vi.advanceTimersByTimeAsync(100);
    expect(expired).toEqual(["a"]);
    await vi.advanceTimersByTimeAsync(100);
    expect(expired).toEqual(["a", "c"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a thousand short runs that finish in time set one timer, not a thousand", () => {
    const watch = new DeadlineWatch();
    const t0 = Date.now();
    for (let i = 0; i < 1000; i++) watch.watch(t0 + 60_000 + i, () => undefined)();
    expect(vi.getTimerCount()).toBe(1);
  });
});
