import { describe, expect, it } from "vitest";
import { decodeTransitionBucket, FIRST_MINUTE_BUCKET, MINUTE_SLOTS, minuteBucketBase } from "../../src/store/rollup-buckets";
import { DURATION_BOUNDS_MS } from "../../src/store/transition";

describe("transition rollup buckets", () => {
  it("has a slot for every histogram bucket (-1 … overflow) in a minute", () => {
    // -1 (no duration), one per bound, and the overflow past the last bound.
    expect(DURATION_BOUNDS_MS.length + 2).toBeLessThanOrEqual(MINUTE_SLOTS);
  });

  it("reads an all-time row's bucket as its histogram bucket, with no minute", () => {
    for (const b of [-1, 0, 7, DURATION_BOUNDS_MS.length]) expect(decodeTransitionBucket(b)).toEqual({ histogram: b, minute: null });
  });

  it("gives a minute's rows buckets of their own, which read back as that minute and histogram bucket", () => {
    const now = Date.UTC(2026, 11, 3, 7, 20, 42, 123);
    const minute = Date.UTC(2026, 11, 3, 7, 20);
    for (const h of [-1, 0, 5, DURATION_BOUNDS_MS.length]) {
      const bucket = minuteBucketBase(now) + h;
      expect(bucket).toBeGreaterThanOrEqual(FIRST_MINUTE_BUCKET);
      expect(decodeTransitionBucket(bucket)).toEqual({ histogram: h, minute });
    }
    // The next minute's rows start past this minute's last slot.
    expect(minuteBucketBase(now + 60_000) - 1).toBe(minuteBucketBase(now) - 1 + MINUTE_SLOTS);
  });
});
