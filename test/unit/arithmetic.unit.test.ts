import { describe, expect, it } from "vitest";
import { evaluateArithmetic, extractExpression } from "../../src/tasks/builtins/arithmetic";

describe("evaluateArithmetic", () => {
  it.each([
    ["12*(3+4)", 84],
    ["1 + 2 * 3", 7],
    ["(1 + 2) * 3", 9],
    ["10 / 4", 2.5],
    ["-3 + 5", 2],
    ["-2^2", -4],
    ["2^3^2", 512],
    ["7 % 4", 3],
    ["1.5 * 2", 3],
  ])("%s = %d", (expr, value) => {
    expect(evaluateArithmetic(expr)).toEqual({ ok: true, value });
  });

  it.each(["1 / 0", "2 +", "(1 + 2", "1 + 2)", "alert(1)", "", "1e5"])("rejects %j", (expr) => {
    expect(evaluateArithmetic(expr).ok).toBe(false);
  });

  it("refuses deep nesting instead of overflowing the stack", () => {
    const result = evaluateArithmetic("(".repeat(100) + "1" + ")".repeat(100));
    expect(result).toEqual({ ok: false, error: "expression nested too deeply" });
  });
});

describe("extractExpression", () => {
  it("finds the arithmetic in a question", () => {
    expect(extractExpression("what is 12*(3+4)?")).toBe("12*(3+4)");
    expect(extractExpression("compute 2 + 2.")).toBe("2 + 2");
  });
  it("ignores text without an operator", () => {
    expect(extractExpression("what time is it in UTC?")).toBeUndefined();
    expect(extractExpression("room 101")).toBeUndefined();
  });
});
