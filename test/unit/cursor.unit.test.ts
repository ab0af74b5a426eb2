import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../src/lib/cursor";

const id = "3f2a9c1e-1234-4abc-8def-0123456789ab";

describe("encodeCursor / decodeCursor", () => {
  it("round-trips and is URL-safe", () => {
    const raw = encodeCursor({ createdAt: 1_767_225_600_123, rowid: 4_000_000_017 });
    expect(raw).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(raw)).toEqual({ ok: true, cursor: { createdAt: 1_767_225_600_123, rowid: 4_000_000_017 } });
  });

  it("still reads a cursor issued before 0014, which names its row by id", () => {
    const raw = btoa(`1767225600123.${id}`).replaceAll("=", "");
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
    ["zero rowid", btoa("1.0")],
    ["leading zero rowid", btoa("1.07")],
    ["rowid past 15 digits", btoa("1.1234567890123456")],
    ["uppercase id", btoa(`1.${id.toUpperCase()}`)],
    ["too long", "A".repeat(200)],
  ])("rejects %s", (_name, raw) => {
    expect(decodeCursor(raw.replace(/=+$/, "")).ok).toBe(false);
  });
});
