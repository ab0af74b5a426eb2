import { isLoopbackHost } from "../lib/auth";
import { inPrefix, parseIpv4, parseIpv6 } from "../lib/ip-address";

/** Longest accepted callback_url, in bytes (DESIGN §15: ≤ 2 KiB). */
export const MAX_CALLBACK_URL_BYTES = 2048;

/** Hostnames of cloud metadata services and other internal-only names. */
const INTERNAL_NAMES = new Set(["metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"]);
const INTERNAL_SUFFIXES = [".localhost", ".internal", ".local", ".localdomain", ".home.arpa"];

interface Range {
  prefix: Uint8Array;
  bits: number;
  kind: string;
}

const range = (address: string, bits: number, kind: string): Range => ({ prefix: (parseIpv4(address) ?? parseIpv6(address)) as Uint8Array, bits, kind });

/** IPv4 ranges that are not globally reachable (RFC 6890), and metadata services' link-local. */
const REFUSED_IPV4 = [
  range("0.0.0.0", 8, "'this network' (0.0.0.0/8)"),
  range("10.0.0.0", 8, "private"),
  range("100.64.0.0", 10, "carrier-grade NAT"),
  range("127.0.0.0", 8, "loopback"),
  range("169.254.0.0", 16, "link-local (cloud metadata)"),
  range("172.16.0.0", 12, "private"),
  range("192.168.0.0", 16, "private"),
  range("198.18.0.0", 15, "benchmarking"),
  range("224.0.0.0", 4, "multicast"),
  range("240.0.0.0", 4, "reserved"),
];

/**
 * IPv6 ranges that are not globally reachable, and every form that embeds an IPv4 address (which
 * could be a private one behind a translator). The first match names the range, so NAT64 comes
 * before the ::/8 it lies in; the rest of ::/8 is unspecified, loopback, IPv4-compatible
 * (::a.b.c.d), IPv4-mapped (::ffff:0:0/96), IPv4-translated (::ffff:0:0:0/96) or unassigned.
 */
const REFUSED_IPV6 = [
  range("64:ff9b::", 96, "NAT64 (embeds an IPv4 address)"),
  range("64:ff9b:1::", 48, "local-use NAT64 (embeds an IPv4 address)"),
  range("::", 8, "reserved (unspecified, loopback, IPv4-compatible or IPv4-mapped)"),
  range("100::", 64, "discard-only"),
  range("2001::", 32, "Teredo (embeds an IPv4 address)"),
  range("2001:db8::", 32, "documentation"),
  range("2002::", 16, "6to4 (embeds an IPv4 address)"),
  range("fc00::", 7, "unique-local (private)"),
  range("fe80::", 10, "link-local"),
  range("fec0::", 10, "site-local"),
  range("ff00::", 8, "multicast"),
];

/** Why no deployed Worker should post to this host ("a loopback address", "an internal name"), or null. */
function refusedHost(hostname: string): string | null {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  if (host === "localhost") return "a loopback name";
  if (INTERNAL_NAMES.has(host) || INTERNAL_SUFFIXES.some((s) => host.endsWith(s))) return "an internal name";
  const bracketed = host.startsWith("[");
  const address = bracketed ? parseIpv6(host.slice(1, -1)) : parseIpv4(host);
  // Fail closed: a bracketed host the URL parser took but ours does not is refused.
  if (!address) return bracketed ? "an IPv6 address that could not be checked" : null;
  const refused = (address.length === 4 ? REFUSED_IPV4 : REFUSED_IPV6).find((r) => inPrefix(address, r.prefix, r.bits));
  return refused ? `a ${refused.kind} address` : null;
}

/**
 * Why a callback_url is refused, or null. Deployed: `https` to a public host only. With
 * `allowLoopback` (local development, `npm run dev`), also `http` or `https` to a loopback host.
 * The URL parser has already normalised numeric forms (`http://2130706433/` is 127.0.0.1, and
 * IPv6 is compressed lower-case hex); the address is then compared as bytes, whatever its spelling.
 * A public name that resolves to a private address is the platform's to refuse: Workers cannot
 * resolve names, and Cloudflare's fetch does not reach private networks.
 */
export function callbackUrlProblem(raw: string, allowLoopback: boolean): string | null {
  if (new TextEncoder().encode(raw).length > MAX_CALLBACK_URL_BYTES) return `longer than ${MAX_CALLBACK_URL_BYTES} bytes`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "not a valid absolute URL";
  }
  if (url.username || url.password) return "must not carry credentials";
  const loopback = isLoopbackHost(url.hostname);
  if (allowLoopback && loopback && (url.protocol === "http:" || url.protocol === "https:")) return null;
  if (url.protocol !== "https:") return allowLoopback ? "must be https (or http to a loopback host in local development)" : "must be https";
  const refused = refusedHost(url.hostname);
  if (refused) return `host ${url.hostname} is ${refused}`;
  return null;
}
