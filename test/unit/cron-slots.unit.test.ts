import { describe, expect, it } from "vitest";
import { MAX_SLOTS_SCANNED, parseCron, planDueSlots } from "../../src/lib/cron-slots";

const HOUR = 3600_000;
const T0 = Date.parse("2026-06-01T00:00:00Z");
const cronOf = (expression: string, timezone = "UTC") => {
  const parsed = parseCron(expression, timezone);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.cron;
};
const iso = (ms: number[]) => ms.map((t) => new Date(t).toISOString());

describe("parseCron", () => {
  it("accepts 5 fields, or 6 with seconds", () => {
    expect(parseCron("*/5 * * * *", "UTC").ok).toBe(true);
    expect(parseCron("*/5 * * * * *", "Europe/Berlin").ok).toBe(true);
  });

  it("names a bad expression or an unknown timezone", () => {
    expect(parseCron("every day", "UTC")).toMatchObject({ ok: false, field: "cron", message: expect.stringContaining("'every day'") });
    expect(parseCron("61 * * * *", "UTC")).toMatchObject({ ok: false, field: "cron" });
    expect(parseCron("* * * * *", "Mars/Olympus")).toMatchObject({ ok: false, field: "timezone", message: expect.stringContaining("'Mars/Olympus'") });
  });
});

describe("planDueSlots", () => {
  const hourly = cronOf("0 * * * *");
  const base = { from: T0 + HOUR, graceMs: 60_000, maxCatchup: 100 };

  it("fires the one slot that has come, on time", () => {
    const plan = planDueSlots(hourly, { ...base, now: T0 + HOUR + 500, missed: "skip" });
    expect(plan).toEqual({ fire: [T0 + HOUR], skipped: 0, next: T0 + 2 * HOUR });
  });

  it("ten missed slots give 0 / 1 / 10 tasks for skip / once / all", () => {
    const now = T0 + 10 * HOUR + 30 * 60_000; // slots 1h … 10h, the last half an hour ago
    expect(planDueSlots(hourly, { ...base, now, missed: "skip" })).toMatchObject({ fire: [], skipped: 10, next: T0 + 11 * HOUR });
    expect(planDueSlots(hourly, { ...base, now, missed: "once" })).toMatchObject({ fire: [T0 + 10 * HOUR], skipped: 9 });
    const all = planDueSlots(hourly, { ...base, now, missed: "all" });
    expect(all.fire).toEqual(Array.from({ length: 10 }, (_, i) => T0 + (i + 1) * HOUR));
    expect(all.skipped).toBe(0);
  });

  it("caps catch-up at max_catchup, keeping the latest missed slots", () => {
    const plan = planDueSlots(hourly, { ...base, now: T0 + 10 * HOUR + 30 * 60_000, missed: "all", maxCatchup: 3 });
    expect(plan.fire).toEqual([8, 9, 10].map((h) => T0 + h * HOUR));
    expect(plan.skipped).toBe(7);
  });

  it("still fires slots inside the grace after missed ones", () => {
    const everyTenS = cronOf("*/10 * * * * *");
    const plan = planDueSlots(everyTenS, { from: T0, now: T0 + 120_000, graceMs: 30_000, missed: "skip", maxCatchup: 100 });
    expect(plan.fire).toEqual([90_000, 100_000, 110_000, 120_000].map((s) => T0 + s));
    expect(plan.skipped).toBe(9);
  });

  it("after an outage longer than it scans, still fires the latest missed slot and counts some skipped", () => {
    const everySecond = cronOf("* * * * * *");
    const now = T0 + (MAX_SLOTS_SCANNED + 5000) * 1000;
    const plan = planDueSlots(everySecond, { from: T0, now, graceMs: 2000, missed: "once", maxCatchup: 100 });
    expect(plan.fire).toEqual([now - 3000, now - 2000, now - 1000, now]);
    expect(plan.skipped).toBeGreaterThan(0);
  });

  it("neither skips nor doubles a daily slot across DST changes in the schedule's timezone", () => {
    const daily = cronOf("30 2 * * *", "Europe/Berlin"); // 02:30 does not exist on 29 March and occurs twice on 25 October
    const walk = (from: string, days: number) => {
      const fired: number[] = [];
      let next: number | null = Date.parse(from);
      for (let i = 0; i < days && next !== null; i++) {
        const plan = planDueSlots(daily, { from: next, now: next, graceMs: 60_000, missed: "skip", maxCatchup: 100 });
        fired.push(...plan.fire);
        next = plan.next;
      }
      return iso(fired);
    };
    expect(walk("2026-03-28T01:30:00Z", 3)).toEqual(["2026-03-28T01:30:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"]);
    expect(walk("2026-10-24T00:30:00Z", 3)).toEqual(["2026-10-24T00:30:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]);
  });
});
