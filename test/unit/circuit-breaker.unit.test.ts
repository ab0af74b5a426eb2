import { describe, expect, it } from "vitest";
import { CircuitBreaker, CircuitOpenError } from "../../src/lib/circuit-breaker";

function setup(threshold = 3, recoveryMs = 30_000) {
  const clock = { t: 1_000_000 };
  const breaker = new CircuitBreaker("coordinator", { failureThreshold: threshold, recoveryMs, now: () => clock.t });
  const boom = () => Promise.reject(new Error("down"));
  const ok = () => Promise.resolve("ok");
  return { clock, breaker, boom, ok };
}

describe("CircuitBreaker", () => {
  it("starts closed and stays closed below the threshold; a success resets the count", async () => {
    const { breaker, boom, ok } = setup(3);
    await expect(breaker.call(boom)).rejects.toThrow("down");
    await expect(breaker.call(boom)).rejects.toThrow("down");
    expect(breaker.snapshot()).toMatchObject({ state: "closed", failure_count: 2 });
    await breaker.call(ok);
    expect(breaker.snapshot()).toMatchObject({ state: "closed", failure_count: 0, total_calls: 3, successful_calls: 1, failed_calls: 2 });
  });

  it("is not closed by a late success that started before it opened; only the probe closes it", async () => {
    const { clock, breaker, boom } = setup(2);
    const slow = breaker.acquire();
    for (let i = 0; i < 2; i++) await expect(breaker.call(boom)).rejects.toThrow("down");
    expect(breaker.state).toBe("open");
    slow!.succeed();
    expect(breaker.snapshot()).toMatchObject({ state: "open", successful_calls: 1 });
    clock.t += 30_000;
    breaker.acquire()!.succeed();
    expect(breaker.state).toBe("closed");
  });

  it("opens after the threshold of consecutive failures and rejects fast while open", async () => {
    const { breaker, boom } = setup(3);
    for (let i = 0; i < 3; i++) await expect(breaker.call(boom)).rejects.toThrow("down");
    expect(breaker.snapshot()).toMatchObject({ state: "open", failure_count: 3, circuit_opens: 1 });
    let called = false;
    const err = await breaker.call(async () => void (called = true)).catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect((err as CircuitOpenError).retryAfterMs).toBe(30_000);
    expect(breaker.snapshot()).toMatchObject({ total_calls: 3, rejected_calls: 1 });
  });

  it("half-opens after the recovery time and lets exactly one probe through", async () => {
    const { clock, breaker, boom } = setup(1, 30_000);
    await expect(breaker.call(boom)).rejects.toThrow();
    clock.t += 29_999;
    expect(breaker.state).toBe("open");
    expect(breaker.retryAfterMs()).toBe(1);
    clock.t += 1;
    expect(breaker.state).toBe("half_open");
    const probe = breaker.acquire();
    expect(probe).not.toBeNull();
    expect(breaker.acquire()).toBeNull(); // a second caller waits for the probe
    expect(breaker.retryAfterMs()).toBeGreaterThan(0);
    probe!.release(); // unused: the slot is free again
    expect(breaker.acquire()).not.toBeNull();
  });

  it("closes on a successful probe", async () => {
    const { clock, breaker, boom, ok } = setup(2);
    await expect(breaker.call(boom)).rejects.toThrow();
    await expect(breaker.call(boom)).rejects.toThrow();
    clock.t += 30_000;
    await expect(breaker.call(ok)).resolves.toBe("ok");
    expect(breaker.snapshot()).toMatchObject({ state: "closed", failure_count: 0, circuit_opens: 1, successful_calls: 1 });
    await expect(breaker.call(ok)).resolves.toBe("ok");
  });

  it("reopens on a failed probe for another recovery period", async () => {
    const { clock, breaker, boom } = setup(2);
    await expect(breaker.call(boom)).rejects.toThrow();
    await expect(breaker.call(boom)).rejects.toThrow();
    clock.t += 30_000;
    await expect(breaker.call(boom)).rejects.toThrow("down");
    expect(breaker.snapshot()).toMatchObject({ state: "open", circuit_opens: 2, failed_calls: 3, retry_after_ms: 30_000 });
    clock.t += 10_000;
    await expect(breaker.call(boom)).rejects.toBeInstanceOf(CircuitOpenError);
    clock.t += 20_000;
    expect(breaker.state).toBe("half_open");
  });

  it("does not let a probe whose caller vanished block the circuit forever", () => {
    const { clock, breaker } = setup(1);
    const permit = breaker.acquire()!;
    permit.fail();
    clock.t += 30_000;
    expect(breaker.acquire()).not.toBeNull(); // never settled
    expect(breaker.acquire()).toBeNull();
    clock.t += 30_000;
    expect(breaker.acquire()).not.toBeNull();
  });

  it("counts a permit once, however often it is settled", () => {
    const { breaker } = setup(3);
    const permit = breaker.acquire()!;
    permit.fail();
    permit.fail();
    permit.succeed();
    expect(breaker.snapshot()).toMatchObject({ total_calls: 1, failed_calls: 1, failure_count: 1 });
  });
});
