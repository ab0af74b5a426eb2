import { AppError } from "../errors";
import { FULL_UUID } from "./short-id";

/**
 * Keyset cursor for GET /tasks and bulk actions: an opaque base64url string of `(created_at,
 * rowid)` of the last row of a page. The next page holds rows strictly older in (created_at DESC,
 * rowid DESC) order (tasks of one millisecond in submission order), so rows inserted meanwhile
 * (always newer) never shift or repeat a later page. A cursor issued before migration 0014 names
 * its row by id instead; it still pages on.
 */
export type TaskCursor = PageEnd | { createdAt: number; id: string };

/** The last row of a page, as a cursor names it. */
export type PageEnd = { createdAt: number; rowid: number };

const BASE64URL = /^[A-Za-z0-9_-]+$/;
export const MAX_CURSOR_LENGTH = 128;

export function encodeCursor(cursor: PageEnd): string {
  const text = `${cursor.createdAt}.${cursor.rowid}`;
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export type DecodeCursorResult = { ok: true; cursor: TaskCursor } | { ok: false; reason: string };

export function decodeCursor(raw: string): DecodeCursorResult {
  const invalid = { ok: false, reason: "cursor is not one this API returned" } as const;
  if (raw.length === 0 || raw.length > MAX_CURSOR_LENGTH || !BASE64URL.test(raw)) return invalid;
  let text: string;
  try {
    const b64 = raw.replaceAll("-", "+").replaceAll("_", "/");
    text = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  } catch {
    return invalid;
  }
  const dot = text.indexOf(".");
  const millis = text.slice(0, dot);
  const row = text.slice(dot + 1);
  if (dot < 1 || !/^[0-9]{1,15}$/.test(millis)) return invalid;
  if (/^[1-9][0-9]{0,14}$/.test(row)) return { ok: true, cursor: { createdAt: Number(millis), rowid: Number(row) } };
  if (FULL_UUID.test(row)) return { ok: true, cursor: { createdAt: Number(millis), id: row } };
  return invalid;
}

/** A `cursor` parameter as routes take it: absent is the start, anything we did not issue is a 400. */
export function cursorParam(raw: string | undefined): TaskCursor | undefined {
  if (raw === undefined) return undefined;
  const decoded = decodeCursor(raw);
  if (!decoded.ok) throw new AppError("validation_failed", `cursor: ${decoded.reason}`, { fields: [{ path: "cursor", message: decoded.reason }] });
  return decoded.cursor;
}
