import { describe, expect, it } from "vitest";
import { asUnavailable } from "../../src/errors";
import { CircuitOpenError } from "../../src/lib/circuit-breaker";
import { TimeoutError } from "../../src/lib/timeout";

describe("asUnavailable", () => {
  it("turns an open breaker into 503 unavailable with a whole-second Retry-After", () => {
    const mapped = asUnavailable(new CircuitOpenError("coordinator", 1500));
    expect(mapped?.retryAfterS).toBe(2);
    expect(mapped?.error.status).toBe(503);
    expect(mapped?.error.toBody().error).toMatchObject({ code: "unavailable", details: { retry_after_s: 2 } });
  });

  it("turns a timeout and a runtime-transient error into 503 without Retry-After", () => {
    const overloaded = Object.assign(new Error("Durable Object is overloaded"), { overloaded: true });
    for (const err of [new TimeoutError("coordinator", 2000), overloaded]) {
      const mapped = asUnavailable(err);
      expect(mapped?.error.toBody().error).toMatchObject({ code: "unavailable", message: err.message });
      expect(mapped?.retryAfterS).toBeUndefined();
    }
  });

  it("leaves anything else (a bug) to the 500 handler", () => {
    expect(asUnavailable(new TypeError("x is undefined"))).toBeUndefined();
  });
});
