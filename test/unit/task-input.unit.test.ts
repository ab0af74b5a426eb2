import { describe, expect, it } from "vitest";
import { taskInputSchema } from "../../src/schemas/task";

describe("taskInputSchema", () => {
  it("fills defaults", () => {
    expect(taskInputSchema.parse({ type: "general_query" })).toEqual({
      type: "general_query",
      drift_score: 0,
      params: {},
      run_immediately: true,
      priority: 0,
    });
  });

  it.each([
    [{}, "type"],
    [{ type: "" }, "type"],
    [{ type: "Bad Type" }, "type"],
    [{ type: "x".repeat(65) }, "type"],
    [{ type: "ok", drift_score: -0.1 }, "drift_score"],
    [{ type: "ok", drift_score: 1.5 }, "drift_score"],
    [{ type: "ok", params: [] }, "params"],
    [{ type: "ok", params: { big: "x".repeat(70_000) } }, "params"],
    [{ type: "ok", description: "é".repeat(2100) }, "description"],
    [{ type: "ok", domain: "d".repeat(65) }, "domain"],
    [{ type: "ok", run_after: "tomorrow" }, "run_after"],
    [{ type: "ok", max_attempts: 0 }, "max_attempts"],
    [{ type: "ok", surprise: 1 }, ""],
  ])("rejects %j naming the field", (input, field) => {
    const parsed = taskInputSchema.safeParse(input);
    expect(parsed.success).toBe(false);
    if (!parsed.success && field) expect(parsed.error.issues.map((i) => i.path.join("."))).toContain(field);
  });
});
