import { describe, expect, it } from "vitest";
import { initialOcps, pFast, previewOcps, stepOcps } from "../../src/organism/ocps";
import { DEFAULT_ORGANISM_CONFIG, parseOrganismConfig } from "../../src/organism/organism-config";
import { buildRoutingTable, resolveRoute } from "../../src/organism/routing";

describe("OCPS valve", () => {
  it("escalates the third task at drift 0.3 and resets S", () => {
    let state = initialOcps();
    const decisions = [];
    for (let i = 0; i < 3; i++) {
      const { decision, next } = stepOcps(state, 0.3, 0.5);
      decisions.push(decision.escalate);
      state = next;
    }
    expect(decisions).toEqual([false, false, true]);
    expect(state.S).toBe(0);
    expect(state).toMatchObject({ total: 3, fast: 2, escalations: 1 });
    expect(pFast(state)).toBeCloseTo(2 / 3);
  });
  it("drains small drift and never goes negative", () => {
    const { next } = stepOcps({ ...initialOcps(), S: 0.05 }, 0, 0.5);
    expect(next.S).toBe(0);
  });
  it("preview does not change the state", () => {
    const state = { ...initialOcps(), S: 0.4 };
    expect(previewOcps(state, 0.3, 0.5)).toMatchObject({ escalate: true, S: 0 });
    expect(state.S).toBe(0.4);
  });
});

describe("routing", () => {
  const table = buildRoutingTable({
    ...DEFAULT_ORGANISM_CONFIG,
    routes: [{ task_type: "general_query", domain: "finance", organ_id: "cognitive_organ_1" }],
  });
  it("resolves (type, domain) first, then type, case-insensitively", () => {
    expect(resolveRoute(table, " General_Query ", "Finance")).toBe("cognitive_organ_1");
    expect(resolveRoute(table, "general_query", "weather")).toBe("utility_organ_1");
    expect(resolveRoute(table, "EXECUTE", null)).toBe("actuator_organ_1");
  });
  it("returns undefined for an unknown type", () => {
    expect(resolveRoute(table, "teleport")).toBeUndefined();
  });

  it("routes a defined type: config routes and task_types first, then the definition's organ, else the first organ", () => {
    const defs = [
      { type: "general_query", organ: "actuator_organ_1" }, // listed by utility_organ_1's task_types: config wins
      { type: "send_email", organ: "actuator_organ_1" },
      { type: "summarize" }, // no organ named: the first organ
      { type: "ghost_work", organ: "no_such_organ" }, // names an organ the organism lacks: no route
    ];
    const routed = buildRoutingTable({ ...DEFAULT_ORGANISM_CONFIG, routes: [{ task_type: "summarize", organ_id: "cognitive_organ_1" }] }, defs);
    expect(resolveRoute(routed, "general_query")).toBe("utility_organ_1");
    expect(resolveRoute(routed, "send_email")).toBe("actuator_organ_1");
    expect(resolveRoute(routed, "summarize")).toBe("cognitive_organ_1");
    expect(resolveRoute(buildRoutingTable(DEFAULT_ORGANISM_CONFIG, defs), "summarize")).toBe("utility_organ_1");
    expect(resolveRoute(routed, "ghost_work")).toBeUndefined();
  });
});

describe("parseOrganismConfig", () => {
  it("uses defaults when blank", () => {
    expect(parseOrganismConfig("")).toEqual({ ok: true, config: DEFAULT_ORGANISM_CONFIG });
  });
  it("rejects bad JSON, unknown organ types and routes to unknown organs", () => {
    expect(parseOrganismConfig("{nope").ok).toBe(false);
    expect(parseOrganismConfig({ organs: [{ organ_id: "x", organ_type: "Wizard" }] }).ok).toBe(false);
    const bad = parseOrganismConfig({ organs: [{ organ_id: "x", organ_type: "Utility" }], routes: [{ task_type: "a", organ_id: "y" }] });
    expect(bad).toMatchObject({ ok: false });
  });
  it("names where the config came from, and refuses values that are not objects", () => {
    expect(parseOrganismConfig("{nope")).toMatchObject({ ok: false, error: expect.stringMatching(/^ORGANISM_CONFIG is not valid JSON/) });
    expect(parseOrganismConfig("{nope", "config")).toMatchObject({ ok: false, error: expect.stringMatching(/^config is not valid JSON/) });
    for (const raw of [42, null, [], "[]", "true"]) expect(parseOrganismConfig(raw, "config"), JSON.stringify(raw)).toMatchObject({ ok: false, error: expect.stringMatching(/^config is invalid/) });
  });
});
