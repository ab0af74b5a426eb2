import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";

describe("resilience config", () => {
  it("has defaults for the breaker, load shedding and rate limit", () => {
    const parsed = parseConfig({});
    expect(parsed.ok && parsed.config).toMatchObject({
      CB_FAILURE_THRESHOLD: 5, CB_RECOVERY_S: 30, ORGANISM_MAX_INFLIGHT_TASKS: 4000, RATE_LIMIT_ENABLED: true, RATE_LIMIT_PERIOD_S: 10,
    });
  });

  it("defaults the lease, heartbeat and result cap for production", () => {
    const parsed = parseConfig({});
    expect(parsed.ok && parsed.config).toMatchObject({ TASK_LEASE_S: 120, HEARTBEAT_S: 20, RESULT_MAX_BYTES: 262_144, REAP_BATCH: 200 });
  });

  it("refuses a heartbeat longer than a third of the lease, naming both values", () => {
    const parsed = parseConfig({ TASK_LEASE_S: "3" });
    expect(parsed).toEqual({ ok: false, error: "invalid configuration: HEARTBEAT_S: HEARTBEAT_S (20) must be at most a third of TASK_LEASE_S (3)" });
    expect(parseConfig({ TASK_LEASE_S: "60", HEARTBEAT_S: "20" }).ok).toBe(true);
    expect(parseConfig({ TASK_LEASE_S: "60", HEARTBEAT_S: "21" }).ok).toBe(false);
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
