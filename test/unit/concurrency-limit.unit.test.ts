import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { defaultConcurrencyLimit } from "../../src/lib/concurrency-limit";

describe("defaultConcurrencyLimit", () => {
  const limits = { "tenant:": 5, "tenant:vip:": 50 };

  it("takes the longest configured prefix of the key, else 1", () => {
    expect(defaultConcurrencyLimit("tenant:42", limits)).toBe(5);
    expect(defaultConcurrencyLimit("tenant:vip:7", limits)).toBe(50);
    expect(defaultConcurrencyLimit("other", limits)).toBe(1);
    expect(defaultConcurrencyLimit("tenant:42", {})).toBe(1);
  });
});

describe("CONCURRENCY_LIMITS", () => {
  it("is a JSON object of prefixes to limits 1-1000; anything else is a config error naming it", () => {
    const ok = parseConfig({ CONCURRENCY_LIMITS: '{"tenant:": 5}' });
    expect(ok.ok && ok.config.CONCURRENCY_LIMITS).toEqual({ "tenant:": 5 });
    const blank = parseConfig({ CONCURRENCY_LIMITS: "" });
    expect(blank.ok && blank.config.CONCURRENCY_LIMITS).toEqual({});
    for (const bad of ["{nope", '{"a": 0}', '{"a": 1001}', '["a"]']) {
      const r = parseConfig({ CONCURRENCY_LIMITS: bad });
      expect(r.ok).toBe(false);
      expect(!r.ok && r.error).toContain("CONCURRENCY_LIMITS");
    }
  });
});
