import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";

describe("retention config", () => {
  it("keeps completed and cancelled tasks 7 days and failed ones 30 by default, deleting 500 rows a chunk", () => {
    const parsed = parseConfig({});
    expect(parsed.ok && parsed.config).toMatchObject({ RETAIN_COMPLETED_S: 604_800, RETAIN_CANCELLED_S: 604_800, RETAIN_FAILED_S: 2_592_000, RETENTION_BATCH: 500 });
  });

  it("takes 0 as keep forever and wrangler's strings", () => {
    const parsed = parseConfig({ RETAIN_COMPLETED_S: "0", RETAIN_FAILED_S: "3600", RETENTION_BATCH: "50" });
    expect(parsed.ok && parsed.config).toMatchObject({ RETAIN_COMPLETED_S: 0, RETAIN_FAILED_S: 3600, RETENTION_BATCH: 50 });
  });

  it("refuses a negative retention and a chunk outside 1–10,000, naming the variable", () => {
    for (const bad of [{ RETAIN_CANCELLED_S: "-1" }, { RETAIN_FAILED_S: "forever" }, { RETENTION_BATCH: "0" }, { RETENTION_BATCH: "10001" }]) {
      const parsed = parseConfig(bad);
      expect(parsed.ok, JSON.stringify(bad)).toBe(false);
      if (!parsed.ok) expect(parsed.error).toContain(Object.keys(bad)[0]);
    }
  });
});
