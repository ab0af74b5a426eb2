import { describe, expect, it } from "vitest";
import { LoadShedder } from "../../durable-objects/load-shedder";

describe("LoadShedder", () => {
  it("admits up to the free capacity per pass and counts the rest as shed", () => {
    const s = new LoadShedder(60_000);
    expect(s.admit("a", 3, 5, 0)).toBe(3);
    expect(s.admit("b", 4, 5, 0)).toBe(2);
    expect(s.snapshot(5)).toEqual({ inflight_tasks: 5, max_inflight_tasks: 5, peak_inflight_tasks: 5, shed_total: 2 });
    expect(s.admit("c", 1, 5, 0)).toBe(0);
    s.release("a");
    expect(s.admit("d", 2, 5, 0)).toBe(2);
    expect(s.snapshot(5)).toMatchObject({ inflight_tasks: 4, shed_total: 3 });
    s.release("a"); // twice is harmless
    expect(s.snapshot(5).inflight_tasks).toBe(4);
  });

  it("stops counting a pass that never reports after its time, and counts escalations per pass", () => {
    const s = new LoadShedder(1000);
    s.admit("lost", 5, 5, 0);
    s.noteEscalations("lost", 2);
    expect(s.escalations()).toBe(2);
    expect(s.admit("next", 1, 5, 500)).toBe(0);
    expect(s.admit("later", 1, 5, 1500)).toBe(1);
    expect(s.escalations()).toBe(0);
  });
});
