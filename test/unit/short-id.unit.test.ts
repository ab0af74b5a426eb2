import { describe, expect, it } from "vitest";
import { parseTaskRef } from "../../src/lib/short-id";

describe("parseTaskRef", () => {
  it("accepts a full UUID, lowercased", () => {
    expect(parseTaskRef("3F2A9C1E-0000-4000-8000-00000000ABCD")).toEqual({
      ok: true,
      ref: { kind: "full", id: "3f2a9c1e-0000-4000-8000-00000000abcd" },
    });
  });

  it("accepts a prefix of at least four hex digits", () => {
    expect(parseTaskRef("3f2a")).toEqual({ ok: true, ref: { kind: "prefix", prefix: "3f2a" } });
    expect(parseTaskRef("3f2a9c1e-00")).toEqual({ ok: true, ref: { kind: "prefix", prefix: "3f2a9c1e-00" } });
  });

  it.each(["3f2", "3f-2", "----", ""])("rejects the too-short prefix %j", (raw) => {
    expect(parseTaskRef(raw).ok).toBe(false);
  });

  it.each(["3f2a%", "3f2a_", "abcd'", "abcd; DROP TABLE tasks", "zzzz", "3f2a9c1e-0000-4000-8000-00000000abcd0"])(
    "rejects %j: only hex digits and dashes may reach SQL",
    (raw) => {
      const parsed = parseTaskRef(raw);
      expect(parsed.ok).toBe(false);
    },
  );
});
