/** A task reference from a URL: a full UUID, or a prefix of one (DESIGN §7). */
export type TaskRef = { kind: "full"; id: string } | { kind: "prefix"; prefix: string };

export const MIN_PREFIX_LENGTH = 4;
export const FULL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Only hex digits and dashes: nothing that LIKE or SQL could interpret ever reaches D1.
const PREFIX = /^[0-9a-f-]+$/;

export type ParseTaskRefResult = { ok: true; ref: TaskRef } | { ok: false; reason: string };

export function parseTaskRef(raw: string): ParseTaskRefResult {
  const value = raw.trim().toLowerCase();
  if (FULL_UUID.test(value)) return { ok: true, ref: { kind: "full", id: value } };
  if (value.length > 36 || !PREFIX.test(value)) {
    return { ok: false, reason: "task id must be a UUID or a prefix of one (hex digits and '-')" };
  }
  if (value.replaceAll("-", "").length < MIN_PREFIX_LENGTH) {
    return { ok: false, reason: `task id prefix needs at least ${MIN_PREFIX_LENGTH} hex digits` };
  }
  return { ok: true, ref: { kind: "prefix", prefix: value } };
}
