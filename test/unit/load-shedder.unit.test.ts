import { describe, expect, it } from "vitest";
import { LoadShedder } from "../../durable-objects/load-shedder";

describe("LoadShedder", () => {
  it("admits up to the free capacity and counts the rest as shed", () => {
    const s = new LoadShedder();
    expect(s.admit(3, 5)).toBe(3);
    expect(s.admit(4, 5)).toBe(2);
    expect(s.snapshot(5)).toEqual({ inflight_tasks: 5, max_inflight_tasks: 5, peak_inflight_tasks: 5, shed_total: 2 });
    expect(s.admit(1, 5)).toBe(0);
    s.release(3);
    expect(s.admit(2, 5)).toBe(2);
    expect(s.snapshot(5)).toMatchObject({ inflight_tasks: 4, shed_total: 3 });
  });

  it("admits everything without a limit and never goes below zero", () => {
    const s = new LoadShedder();
    expect(s.admit(10_000, Number.POSITIVE_INFINITY)).toBe(10_000);
    s.release(20_000);
    expect(s.snapshot(1).inflight_tasks).toBe(0);
  });
});
