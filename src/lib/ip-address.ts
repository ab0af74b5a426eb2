/**
 * IP addresses as bytes, so a range check does not depend on how the address was spelled
 * (compressed, expanded, upper case, with an embedded dotted quad). Parsing only: which ranges
 * are refused is the caller's policy.
 */

/** A dotted-decimal IPv4 address (the only form the URL parser leaves in a hostname) as 4 bytes. */
export function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return Uint8Array.from(parts.map(Number));
}

/** Hex groups, each one 16-bit group or (last only) a dotted quad worth two; null if malformed. */
function groups(text: string, dottedAllowed: boolean): number[] | null {
  if (text === "") return [];
  const out: number[] = [];
  const parts = text.split(":");
  for (const [i, part] of parts.entries()) {
    if (/^[0-9a-f]{1,4}$/i.test(part)) {
      out.push(parseInt(part, 16));
      continue;
    }
    const v4 = dottedAllowed && i === parts.length - 1 ? parseIpv4(part) : null;
    if (!v4) return null;
    out.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
  }
  return out;
}

/**
 * An IPv6 address (RFC 4291 §2.2 text, without brackets) as 16 bytes: `::` compression at most
 * once, an embedded dotted quad as the last 32 bits. A zone id (`%eth0`) is refused: it names a
 * local interface, which no address we would call has.
 */
export function parseIpv6(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const [head = "", tail] = halves;
  const left = groups(head, tail === undefined);
  const right = tail === undefined ? [] : groups(tail, true);
  if (!left || !right) return null;
  const explicit = left.length + right.length;
  if (tail === undefined ? explicit !== 8 : explicit > 7) return null;
  const words = [...left, ...Array<number>(8 - explicit).fill(0), ...right];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

/** Whether the first `bits` bits of `address` equal those of `prefix` (same family). */
export function inPrefix(address: Uint8Array, prefix: Uint8Array, bits: number): boolean {
  if (address.length !== prefix.length) return false;
  for (let i = 0; i < bits; i += 8) {
    const mask = (0xff << (8 - Math.min(8, bits - i))) & 0xff;
    if (((address[i / 8] as number) & mask) !== ((prefix[i / 8] as number) & mask)) return false;
  }
  return true;
}
