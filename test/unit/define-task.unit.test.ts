import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask, MAX_TIMEOUT_S } from "../../src/tasks/define-task";
import { RetryAfterError } from "../../src/tasks/errors";
import { callSizeOf, ORGAN_CALL_TASKS, QUIET_CALL_TASKS } from "../../src/dispatch/organ-calls";
import { RPC_LIMITS, withMargin } from "../../src/lib/platform-limits";
import { MAX_TASK_INPUT_BYTES } from "../../src/schemas/task";
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
    expect(() => defineTask({ type: "ok_type", params: z.object({}), executor: { kind: "http", url: "https://example.com/run" }, opens_connections: false })).toThrow(/executor opens connections/);
  });

  it("sizes organ calls: QUIET_CALL_TASKS for run code that opens no connections, ORGAN_CALL_TASKS otherwise", () => {
    const config = { RESULT_MAX_BYTES: 262_144 };
    const quiet = defineTask({ type: "quiet_type", params: z.object({}), run, opens_connections: false });
    expect(callSizeOf(quiet, config)).toBe(QUIET_CALL_TASKS);
    expect(callSizeOf(defineTask({ type: "loud_type", params: z.object({}), run }), config)).toBe(ORGAN_CALL_TASKS);
    expect(callSizeOf(defineTask({ type: "loud_type", params: z.object({}), run, opens_connections: true }), config)).toBe(ORGAN_CALL_TASKS);
    // A TASK_EXECUTORS override keeps the code's fields but runs remotely: it opens connections.
    expect(callSizeOf({ ...quiet, executor: { kind: "http", url: "https://example.com/run" } }, config)).toBe(ORGAN_CALL_TASKS);
    expect(callSizeOf(undefined, config)).toBe(ORGAN_CALL_TASKS);
    expect(ORGAN_CALL_TASKS).toBe(6);
  });

  it("keeps a quiet call's worst case (inputs and RESULT_MAX_BYTES results) inside the RPC budget", () => {
    const quiet = defineTask({ type: "quiet_type", params: z.object({}), run, opens_connections: false });
    for (const RESULT_MAX_BYTES of [1024, 262_144, 512 * 1024, 1024 * 1024]) {
      const n = callSizeOf(quiet, { RESULT_MAX_BYTES });
      expect(n * (RESULT_MAX_BYTES + MAX_TASK_INPUT_BYTES)).toBeLessThanOrEqual(withMargin(RPC_LIMITS.messageBytes));
      expect(n).toBeGreaterThanOrEqual(ORGAN_CALL_TASKS);
    }
    expect(callSizeOf(quiet, { RESULT_MAX_BYTES: 1024 * 1024 })).toBe(22);
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
