import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";

describe("resilience config", () => {
  it("has defaults for the breaker, load shedding and rate limit", () => {
    const parsed = parseConfig({});
    expect(parsed.ok && parsed.config).toMatchObject({
      CB_FAILURE_THRESHOLD: 5, CB_RECOVERY_S: 30, ORGANISM_MAX_INFLIGHT_TASKS: 20000, RATE_LIMIT_ENABLED: true, RATE_LIMIT_PERIOD_S: 60,
    });
  });

  it("reads wrangler's string vars", () => {
    const parsed = parseConfig({ CB_FAILURE_THRESHOLD: "2", CB_RECOVERY_S: "0.5", RATE_LIMIT_ENABLED: "false", RATE_LIMIT_PERIOD_S: "10" });
    expect(parsed.ok && parsed.config).toMatchObject({ CB_FAILURE_THRESHOLD: 2, CB_RECOVERY_S: 0.5, RATE_LIMIT_ENABLED: false, RATE_LIMIT_PERIOD_S: 10 });
  });

  it("rejects values the binding or the breaker cannot use", () => {
    for (const bad of [{ RATE_LIMIT_PERIOD_S: "30" }, { RATE_LIMIT_ENABLED: "yes" }, { CB_FAILURE_THRESHOLD: "0" }, { ORGANISM_MAX_INFLIGHT_TASKS: "1.5" }]) {
      const parsed = parseConfig(bad);
      expect(parsed.ok, JSON.stringify(bad)).toBe(false);
      if (!parsed.ok) expect(parsed.error).toContain(Object.keys(bad)[0]);
    }
  });
});
