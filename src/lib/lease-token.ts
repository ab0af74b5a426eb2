/**
 * A task's lease token, as a pull worker (or an http endpoint that answered 202) presents it: an
 * HMAC-SHA256 of the task id keyed by the claim's fencing token (`locked_by`), base64url. Each
 * task of a claim gets its own token, and knowing one (the endpoint of one task of a dispatcher
 * pass) reveals neither the claim's token nor another task's. Checked by recomputing it from the
 * row's `locked_by`, so nothing more is stored.
 */
const encoder = new TextEncoder();

function base64url(bytes: ArrayBuffer): string {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function mac(lockedBy: string, id: string): Promise<ArrayBuffer> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(lockedBy), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", key, encoder.encode(id));
}

/** The lease token of task `id` under the claim token `lockedBy`. */
export async function leaseTokenFor(lockedBy: string, id: string): Promise<string> {
  return base64url(await mac(lockedBy, id));
}

/** Whether `given` is the lease token of task `id` under `lockedBy` (constant-time over equal lengths). */
export async function leaseTokenHolds(given: string, lockedBy: string | null, id: string): Promise<boolean> {
  if (lockedBy === null) return false;
  const expected = encoder.encode(await leaseTokenFor(lockedBy, id));
  const actual = encoder.encode(given);
  return actual.byteLength === expected.byteLength && crypto.subtle.timingSafeEqual(actual, expected);
}
