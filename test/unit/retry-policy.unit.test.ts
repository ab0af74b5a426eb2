import { describe, expect, it } from "vitest";
import { backoffSeconds, capText, decideOutcome, ERROR_MAX_BYTES, JITTER, retryPolicyOf, timeoutOf } from "../../src/dispatch/retry-policy";
import { defineTask } from "../../src/tasks/define-task";
import { RetryAfterError } from "../../src/tasks/errors";
import { registerTasks } from "../../src/tasks/registry";
import { z } from "zod";

const config = { RETRY_BASE_S: 10, RETRY_MAX_S: 300, RESULT_MAX_BYTES: 1024 };
/** The default policy (RETRY_BASE_S / RETRY_MAX_S above). */
const POLICY = { base_s: 10, max_s: 300 };

describe("backoffSeconds", () => {
  it("doubles from the base and stays within ±20% jitter for every attempt number", () => {
    for (let attempt = 1; attempt <= 40; attempt++) {
      const nominal = Math.min(10 * 2 ** (attempt - 1), 300);
      for (const random of [0, 0.25, 0.5, 0.75, 0.999999]) {
        const delay = backoffSeconds(attempt, 10, 300, random);
        expect(delay).toBeGreaterThanOrEqual(nominal * (1 - JITTER));
        expect(delay).toBeLessThanOrEqual(nominal * (1 + JITTER));
      }
    }
  });

  it("is the nominal value at random 0.5 and is capped at the maximum", () => {
    expect(backoffSeconds(1, 10, 300, 0.5)).toBe(10);
    expect(backoffSeconds(3, 10, 300, 0.5)).toBe(40);
    expect(backoffSeconds(30, 10, 300, 0.5)).toBe(300);
  });
});

describe("decideOutcome", () => {
  const task = { id: "t", attempts: 1, max_attempts: 3 };

  it("completes with the full result", () => {
    const w = decideOutcome(task, { id: "t", ok: true, result: { success: true, answer: 84 } }, config, 1000, 0.5, POLICY);
    expect(w).toMatchObject({ status: "completed", result: { success: true, answer: 84 }, error: null });
  });

  it("stores exactly what the task's code returned, any JSON, and how it ran as the execution", () => {
    const execution = { path: "fast", organ_id: "utility_organ_1", replica: 0, agent_id: "a", p_fast: 1, latency_ms: 3 };
    for (const result of [42, "text", [1, 2], false, { nested: { a: 1 } }]) {
      expect(decideOutcome(task, { id: "t", ok: true, result, execution }, config, 1000, 0.5, POLICY)).toMatchObject({ status: "completed", result, execution });
    }
    // A task whose code returned nothing stores null; an outcome without an execution stores none.
    expect(decideOutcome(task, { id: "t", ok: true, result: undefined }, config, 1000, 0.5, POLICY)).toMatchObject({ status: "completed", result: null, execution: null });
    expect(decideOutcome(task, { id: "t", ok: false, retriable: true, error: "boom", execution }, config, 1000, 0.5, POLICY)).toMatchObject({ status: "retry", execution });
  });

  it("backs off by the policy it is given (a definition's retry), not the config's", () => {
    const w = decideOutcome({ ...task, attempts: 2 }, { id: "t", ok: false, retriable: true, error: "boom" }, config, 1000, 0.5, { base_s: 1, max_s: 3 });
    expect(w).toMatchObject({ status: "retry", run_after: 1000 + 2000 });
    const capped = decideOutcome({ ...task, attempts: 5, max_attempts: 9 }, { id: "t", ok: false, retriable: true, error: "boom" }, config, 1000, 0.5, { base_s: 1, max_s: 3 });
    expect(capped).toMatchObject({ status: "retry", run_after: 1000 + 3000 });
  });

  it("retries a RetryAfterError's failure at now + its retryAfterMs, and the attempt counts", () => {
    const err = new RetryAfterError("rate limited", 42);
    const w = decideOutcome(task, { id: "t", ok: false, retriable: true, error: err.message, retryAfterMs: err.retryAfterS * 1000 }, config, 1000, 0.5, POLICY);
    expect(w).toMatchObject({ status: "retry", error: "rate limited", run_after: 1000 + 42_000 });
    expect(w.refund_attempt).toBeUndefined();
    expect(w.message).toMatch(/^attempt 1 failed, retrying in 42s/);
    // On the last attempt it fails like any other retriable failure.
    expect(decideOutcome({ ...task, attempts: 3 }, { id: "t", ok: false, retriable: true, error: "rate limited", retryAfterMs: 42_000 }, config, 1000, 0.5, POLICY)).toMatchObject({ status: "failed", run_after: null });
  });

  it("retries a retriable failure after the backoff", () => {
    const w = decideOutcome(task, { id: "t", ok: false, retriable: true, error: "boom" }, config, 1000, 0.5, POLICY);
    expect(w).toMatchObject({ status: "retry", error: "boom", run_after: 1000 + 10_000 });
  });

  it("fails a permanent failure at once", () => {
    const w = decideOutcome(task, { id: "t", ok: false, retriable: false, error: "no route" }, config, 1000, 0.5, POLICY);
    expect(w).toMatchObject({ status: "failed", error: "no route", run_after: null });
  });

  it("fails when attempts are exhausted, keeping the last error", () => {
    const w = decideOutcome({ ...task, attempts: 3 }, { id: "t", ok: false, retriable: true, error: "boom" }, config, 1000, 0.5, POLICY);
    expect(w.status).toBe("failed");
    expect(w.error).toContain("boom");
    expect(w.error).toContain("3/3");
  });

  it("retries a task that was not run (shed) and gives its attempt back, even on its last attempt", () => {
    const w = decideOutcome({ ...task, attempts: 3 }, { id: "t", ok: false, retriable: true, notRun: true, error: "overloaded" }, config, 1000, 0.5, POLICY);
    expect(w).toMatchObject({ status: "retry", error: "overloaded", run_after: 1000 + 10_000, refund_attempt: true });
  });

  it("retries a task refused by an open circuit when the circuit says, attempt given back", () => {
    const w = decideOutcome(task, { id: "t", ok: false, retriable: true, notRun: true, retryAfterMs: 7000, error: "circuit open" }, config, 1000, 0.5, POLICY);
    expect(w).toMatchObject({ status: "retry", run_after: 8000, refund_attempt: true });
  });

  it("fails a result larger than RESULT_MAX_BYTES permanently, naming its size (UTF-8 bytes)", () => {
    const w = decideOutcome(task, { id: "t", ok: true, result: { text: "é".repeat(600) } }, config, 1000, 0.5, POLICY);
    expect(w).toMatchObject({ status: "failed", result: null, error: "result of 1211 bytes exceeds RESULT_MAX_BYTES (1024)", run_after: null });
    expect(decideOutcome(task, { id: "t", ok: true, result: { text: "e".repeat(600) } }, config, 1000, 0.5, POLICY).status).toBe("completed");
  });
});

describe("what a failure may store", () => {
  const task = { id: "t", attempts: 1, max_attempts: 3 };

  it("caps an error at ERROR_MAX_BYTES, saying how long it was, and the timeline message with it", () => {
    const huge = "é".repeat(1_500_000); // 3,000,000 bytes of UTF-8
    for (const [retriable, attempts] of [[true, 1], [false, 1], [true, 3]] as const) {
      const w = decideOutcome({ ...task, attempts }, { id: "t", ok: false, retriable, error: huge }, config, 1000, 0.5, POLICY);
      expect(new TextEncoder().encode(w.error ?? "").length).toBeLessThanOrEqual(ERROR_MAX_BYTES + 64);
      expect(new TextEncoder().encode(w.message).length).toBeLessThanOrEqual(ERROR_MAX_BYTES + 200);
      expect(w.error).toContain("(3000000 bytes, cut)");
    }
  });

  it("keeps an error of exactly ERROR_MAX_BYTES and cuts one byte more", () => {
    expect(capText("a".repeat(ERROR_MAX_BYTES))).toBe("a".repeat(ERROR_MAX_BYTES));
    const cut = capText("a".repeat(ERROR_MAX_BYTES + 1));
    expect(new TextEncoder().encode(cut).length).toBeLessThanOrEqual(ERROR_MAX_BYTES);
    expect(cut).toMatch(/… \(4097 bytes, cut\)$/);
  });

  it("never leaves half a character at the cut", () => {
    const cut = capText("😀".repeat(2000), 101);
    expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    expect(new TextEncoder().encode(cut).length).toBeLessThanOrEqual(101);
  });

  it("drops a failure's partial result that could not be stored, and keeps one that could", () => {
    const big = { steps: "x".repeat(config.RESULT_MAX_BYTES) };
    expect(decideOutcome(task, { id: "t", ok: false, retriable: true, error: "e", result: big }, config, 1000, 0.5, POLICY).result).toBeNull();
    const small = { steps: [1, 2] };
    expect(decideOutcome(task, { id: "t", ok: false, retriable: true, error: "e", result: small }, config, 1000, 0.5, POLICY).result).toEqual(small);
  });
});

describe("a type's policy and timeout", () => {
  it("come from its definition, else the config", () => {
    const type = `policy-${crypto.randomUUID().slice(0, 8)}`;
    registerTasks([defineTask({ type, params: z.looseObject({}), run: () => null, retry: { base_s: 2, max_s: 4 }, timeout_s: 7 })]);
    const cfg = { RETRY_BASE_S: 10, RETRY_MAX_S: 300, TASK_TIMEOUT_S: 60 };
    expect(retryPolicyOf(type, cfg)).toEqual({ base_s: 2, max_s: 4 });
    expect(timeoutOf(type, cfg)).toBe(7);
    expect(retryPolicyOf("no-such-type", cfg)).toEqual({ base_s: 10, max_s: 300 });
    expect(timeoutOf("no-such-type", cfg)).toBe(60);
  });

  it("RetryAfterError refuses a negative or non-finite time", () => {
    expect(() => new RetryAfterError("x", -1)).toThrow(RangeError);
    expect(() => new RetryAfterError("x", Number.NaN)).toThrow(RangeError);
    expect(new RetryAfterError("x", 0).retryAfterS).toBe(0);
  });
});
