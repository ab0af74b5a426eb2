import { describe, expect, it } from "vitest";
import { widestOrgans } from "../../durable-objects/organ-fleet";
import type { OrganSpec } from "../../src/organism/organism-config";

const organ = (organ_id: string, replicas: number, agent_count = 8): OrganSpec => ({ organ_id, organ_type: "Utility", agent_count, replicas, task_types: ["ping"] });

describe("widestOrgans (what a failed initialisation leaves as applied)", () => {
  it("keeps each organ at the larger replica count, so the next attempt reaches every replica an agent may have moved to", () => {
    const applied = [organ("a", 1), organ("b", 4), organ("c", 2)];
    const attempted = [organ("a", 8), organ("b", 2), organ("d", 3)];
    expect(widestOrgans(applied, attempted)).toEqual([organ("a", 8), organ("b", 4), organ("c", 2), organ("d", 3)]);
  });

  it("an equal count keeps the applied spec", () => {
    expect(widestOrgans([organ("a", 2, 4)], [organ("a", 2, 8)])).toEqual([organ("a", 2, 4)]);
  });
});
