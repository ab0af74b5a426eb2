import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask, MAX_TIMEOUT_S } from "../../src/tasks/define-task";
import { RetryAfterError } from "../../src/tasks/errors";
import { registerTasks, taskDefinition } from "../../src/tasks/registry";

const run = () => null;

describe("defineTask", () => {
  it("refuses a definition that could not run, naming what is wrong", () => {
    expect(() => defineTask({ type: "Bad Type", params: z.object({}), run })).toThrow(/type 'Bad Type'/);
    expect(() => defineTask({ type: "ok_type", params: z.object({}), run, timeout_s: 0 })).toThrow(/timeout_s/);
    expect(() => defineTask({ type: "ok_type", params: z.object({}), run, timeout_s: MAX_TIMEOUT_S + 1 })).toThrow(/timeout_s/);
    expect(() => defineTask({ type: "ok_type", params: z.object({}), run, max_attempts: 21 })).toThrow(/max_attempts/);
    expect(() => defineTask({ type: "ok_type", params: z.object({}), run, retry: { base_s: 10, max_s: 5 } })).toThrow(/retry/);
    expect(defineTask({ type: "ok_type", params: z.object({}), run, timeout_s: MAX_TIMEOUT_S }).timeout_s).toBe(MAX_TIMEOUT_S);
  });

  it("registers once: the same definition again is a no-op, another for the same type throws", () => {
    const a = defineTask({ type: "dt_once", params: z.object({}), run });
    registerTasks([a, a]);
    expect(taskDefinition("dt_once")).toBe(a);
    expect(() => registerTasks([defineTask({ type: "dt_once", params: z.object({}), run })])).toThrow(/defined twice/);
  });

  it("RetryAfterError needs a time that makes sense", () => {
    expect(new RetryAfterError("slow down", 30).retryAfterS).toBe(30);
    expect(() => new RetryAfterError("x", -1)).toThrow(RangeError);
    expect(() => new RetryAfterError("x", Number.NaN)).toThrow(RangeError);
  });
});
