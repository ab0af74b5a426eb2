import { describe, expect, it } from "vitest";
import { guardedCall } from "../../src/clients/guarded-call";
import { coordinatorClient, type CoordinatorStub } from "../../src/clients/organism-client";
import { parseConfig, type Config } from "../../src/config";
import type { DecideResult, DecideTask } from "../../src/organism/decisions";
import { CircuitBreaker, CircuitOpenError } from "../../src/lib/circuit-breaker";
import { isRetryable, isTransient, retryDelayMs, withRetry, type RetryOptions } from "../../src/lib/retry";
import { TimeoutError } from "../../src/lib/timeout";

const flagged = (flag: string) => Object.assign(new Error(flag), { [flag]: true });

function opts(sleeps: number[], random = 0.5): RetryOptions {
  return { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000, random: () => random, sleep: async (ms) => void sleeps.push(ms) };
}

describe("isTransient", () => {
  it("accepts retryable, overloaded and reset Durable Object errors only", () => {
    expect(isTransient(flagged("retryable"))).toBe(true);
    expect(isTransient(flagged("overloaded"))).toBe(true);
    expect(isTransient(flagged("durableObjectReset"))).toBe(true);
    expect(isTransient(new Error("bad argument"))).toBe(false);
    expect(isTransient(Object.assign(new Error("x"), { retryable: false }))).toBe(false);
    expect(isTransient(new TimeoutError("coordinator", 1000))).toBe(false);
    expect(isTransient("string error")).toBe(false);
  });
});

describe("isRetryable", () => {
  it("is retryable and reset errors, not overloaded ones (retrying at once worsens an overload)", () => {
    expect(isRetryable(flagged("retryable"))).toBe(true);
    expect(isRetryable(flagged("durableObjectReset"))).toBe(true);
    expect(isRetryable(flagged("overloaded"))).toBe(false);
    expect(isRetryable(new Error("boom"))).toBe(false);
  });
});

describe("retryDelayMs", () => {
  it("doubles from the base, caps at the max, and jitters within [d/2, d]", () => {
    const o = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(retryDelayMs(1, o, 0)).toBe(50);
    expect(retryDelayMs(1, o, 0.999999)).toBe(100);
    expect(retryDelayMs(3, o, 0.5)).toBe(300);
    expect(retryDelayMs(10, o, 0.5)).toBe(750);
  });
});

describe("withRetry", () => {
  it("retries transient failures with growing delays, then succeeds (no real sleeping)", async () => {
    const sleeps: number[] = [];
    let calls = 0;
    const value = await withRetry(async ({ attempt }) => {
      calls++;
      if (attempt < 3) throw flagged(attempt === 1 ? "overloaded" : "retryable");
      return "done";
    }, opts(sleeps));
    expect(value).toBe("done");
    expect(calls).toBe(3);
    expect(sleeps).toEqual([75, 150]);
  });

  it("never retries a permanent error", async () => {
    const sleeps: number[] = [];
    let calls = 0;
    await expect(withRetry(async () => {
      calls++;
      throw new Error("no route for task type 'x'");
    }, opts(sleeps))).rejects.toThrow("no route");
    expect(calls).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it("gives up after maxAttempts and rethrows the last error", async () => {
    const sleeps: number[] = [];
    let calls = 0;
    await expect(withRetry(async () => {
      calls++;
      throw flagged("retryable");
    }, opts(sleeps))).rejects.toThrow("retryable");
    expect(calls).toBe(4);
    expect(sleeps).toHaveLength(3);
  });

  it("tells the next try what failed before", async () => {
    const seen: unknown[] = [];
    const reset = flagged("durableObjectReset");
    await withRetry(async ({ attempt, previousError }) => {
      seen.push(previousError);
      if (attempt === 1) throw reset;
    }, opts([]));
    expect(seen).toEqual([undefined, reset]);
  });
});

const config = (() => {
  const parsed = parseConfig({ CB_FAILURE_THRESHOLD: "2", CB_RECOVERY_S: "30" });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.config;
})();

const decided = (tasks: DecideTask[], stub: number): DecideResult => ({
  decisions: tasks.map(() => ({ kind: "fast", organ_id: `stub-${stub}`, replica: 0, p_fast: 1 })),
  organism: { organs: [], routing: { byType: {}, byTypeDomain: {} } },
});

function fakeCoordinator(behaviour: (n: number) => Promise<void>) {
  const stubs: number[] = [];
  let n = 0;
  const stub = (): CoordinatorStub => {
    const id = stubs.length + 1;
    stubs.push(id);
    return {
      decide: async (_pass: string, tasks: DecideTask[]) => {
        await behaviour(++n);
        return decided(tasks, id);
      },
    } as unknown as CoordinatorStub;
  };
  return { stub, stubs, calls: () => n };
}

const tasks: DecideTask[] = [{ id: "t1", type: "ping", domain: null, drift_score: 0 }];

function client(behaviour: (n: number) => Promise<void>, cfg: Config = config) {
  const clock = { t: 0 };
  const fake = fakeCoordinator(behaviour);
  const breaker = new CircuitBreaker("coordinator", { failureThreshold: cfg.CB_FAILURE_THRESHOLD, recoveryMs: cfg.CB_RECOVERY_S * 1000, now: () => clock.t });
  const c = coordinatorClient({} as Env, cfg, { now: () => clock.t, random: () => 0.5, sleep: async () => {}, stub: fake.stub, breaker, timeoutMs: 50 });
  const decide = () => {
    const admission = c.admit();
    if (!admission.admitted) throw new CircuitOpenError("coordinator", admission.retryAfterMs);
    return admission.decide("pass", tasks);
  };
  return { c, fake, breaker, clock, decide };
}

describe("coordinatorClient", () => {
  it("retries a reset object through a fresh stub and counts one successful call", async () => {
    const { fake, breaker, decide } = client(async (n) => {
      if (n === 1) throw flagged("durableObjectReset");
    });
    expect((await decide()).decisions).toEqual([{ kind: "fast", organ_id: "stub-2", replica: 0, p_fast: 1 }]);
    expect(fake.stubs).toEqual([1, 2]);
    expect(breaker.snapshot()).toMatchObject({ state: "closed", total_calls: 1, successful_calls: 1 });
  });

  it("does not retry a permanent error, and opens after CB_FAILURE_THRESHOLD failed calls", async () => {
    const { fake, breaker, decide } = client(async () => {
      throw new Error("boom");
    });
    await expect(decide()).rejects.toThrow("boom");
    await expect(decide()).rejects.toThrow("boom");
    expect(fake.calls()).toBe(2);
    expect(breaker.state).toBe("open");
    expect(() => decide()).toThrow(CircuitOpenError);
    expect(fake.calls()).toBe(2);
  });

  it("bounds each try with the timeout and counts a timeout as a failure, not retried", async () => {
    const { fake, breaker, decide } = client(() => new Promise<void>(() => {}));
    await expect(decide()).rejects.toBeInstanceOf(TimeoutError);
    expect(fake.calls()).toBe(1);
    expect(breaker.snapshot()).toMatchObject({ failed_calls: 1, failure_count: 1 });
  });

  it("never retries 'overloaded' at once (the tasks take their own backoff), and says how long to stay away when open", async () => {
    const { c, clock, fake, decide } = client(async () => {
      throw flagged("overloaded");
    });
    for (let i = 0; i < 2; i++) await expect(decide()).rejects.toThrow("overloaded");
    expect(fake.calls()).toBe(2);
    clock.t += 10_000;
    expect(c.admit()).toEqual({ admitted: false, retryAfterMs: 20_000 });
  });

  it("guardedCall records a thrown error on the breaker", async () => {
    const breaker = new CircuitBreaker("x", { failureThreshold: 1, recoveryMs: 1000, now: () => 0 });
    await expect(guardedCall(breaker, async () => { throw new Error("sync"); }, { timeoutMs: 1000, what: "x", retry: opts([]) })).rejects.toThrow("sync");
    expect(breaker.state).toBe("open");
  });
});
