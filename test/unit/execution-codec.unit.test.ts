import { describe, expect, it } from "vitest";
import { packExecution, unpackExecution } from "../../src/store/execution-codec";

const fast = { path: "fast", organ_id: "utility_organ_1", replica: 0, agent_id: "utility_organ_1_agent_3", p_fast: 0.83, latency_ms: 12 };

describe("execution codec", () => {
  it("packs a fast-path execution into an array a third of its size, and unpacks it whole", () => {
    const packed = packExecution(fast);
    expect(packed).toEqual(["utility_organ_1", 0, 3, 0.83, 12]);
    expect(JSON.stringify(packed).length * 3).toBeLessThan(JSON.stringify(fast).length);
    expect(unpackExecution(packed)).toEqual(fast);
  });

  it("keeps timed_out", () => {
    const timedOut = { ...fast, timed_out: true };
    expect(packExecution(timedOut)).toEqual(["utility_organ_1", 0, 3, 0.83, 12, 1]);
    expect(unpackExecution(packExecution(timedOut))).toEqual(timedOut);
  });

  it("reads 0013's form, marked \"f\", the same (an organ named \"f\" included)", () => {
    expect(unpackExecution(["f", "utility_organ_1", 0, 3, 0.83, 12])).toEqual(fast);
    expect(unpackExecution(["f", "utility_organ_1", 0, 3, 0.83, 12, 1])).toEqual({ ...fast, timed_out: true });
    const organF = { ...fast, organ_id: "f", agent_id: "f_agent_3" };
    expect(unpackExecution(packExecution(organF))).toEqual(organF);
    expect(unpackExecution(["f", "f", 0, 3, 0.83, 12])).toEqual(organF);
  });

  it("stores anything else as it is: other paths, extra keys, agents named otherwise", () => {
    for (const e of [
      { path: "escalation", kind: "escalated", solution_steps: [], p_fast: 0 },
      { path: "control", code: "unavailable" },
      { ...fast, extra: 1 },
      { ...fast, agent_id: "someone_else" },
      { ...fast, agent_id: "utility_organ_1_agent_03" },
      { ...fast, replica: "0" },
      { ...fast, timed_out: false },
    ]) {
      expect(packExecution(e)).toBe(e);
      expect(unpackExecution(e)).toBe(e);
    }
  });
});
