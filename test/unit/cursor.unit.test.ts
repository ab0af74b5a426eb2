import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../src/lib/cursor";

const id = "3f2a9c1e-1234-4abc-8def-0123456789ab";

describe("encodeCursor / decodeCursor", () => {
  it("round-trips and is URL-safe", () => {
    const raw = encodeCursor({ createdAt: 1_767_225_600_123, id });
    expect(raw).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(raw)).toEqual({ ok: true, cursor: { createdAt: 1_767_225_600_123, id } });
  });

  it.each([
    ["empty", ""],
    ["not base64url", "a+b/c="],
    ["undecodable", "A"],
    ["no separator", btoa("1767225600123")],
    ["no time", btoa(`.${id}`)],
    ["negative time", btoa(`-1.${id}`)],
    ["fractional time", btoa(`1.5.${id}`)],
    ["bad id", btoa("1.abc")],
    ["uppercase id", btoa(`1.${id.toUpperCase()}`)],
    ["too long", "A".repeat(200)],
  ])("rejects %s", (_name, raw) => {
    expect(decodeCursor(raw.replace(/=+$/, "")).ok).toBe(false);
  });
});
