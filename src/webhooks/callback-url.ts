import { isLoopbackHost } from "../lib/auth";

/** Longest accepted callback_url, in bytes (DESIGN §15: ≤ 2 KiB). */
export const MAX_CALLBACK_URL_BYTES = 2048;

/** Hostnames of cloud metadata services and other internal-only names. */
const INTERNAL_NAMES = new Set(["metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"]);
const INTERNAL_SUFFIXES = [".localhost", ".internal", ".local", ".localdomain", ".home.arpa"];

function ipv4(host: string): number[] | null {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.map(Number);
}

/** 0/8, 10/8, 100.64/10 (carrier NAT), 127/8, 169.254/16 (link-local, metadata), 172.16/12, 192.168/16, 198.18/15, multicast and reserved. */
function isPrivateIpv4([a = 0, b = 0]: number[]): boolean {
  return (
    a === 0 || a === 10 || a === 127 || a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 198 && (b === 18 || b === 19))
  );
}

/** Loopback, unspecified, unique-local (fc00::/7), link-local (fe80::/10), and IPv4 mapped into IPv6. */
function isPrivateIpv6(bracketed: string): boolean {
  const h = bracketed.slice(1, -1).toLowerCase();
  if (h === "::1" || h === "::") return true;
  if (/^f[cd]/.test(h) || /^fe[89ab]/.test(h)) return true;
  const mapped = h.match(/^::ffff:(.+)$/);
  if (mapped?.[1]) {
    const v4 = ipv4(mapped[1]);
    if (v4) return isPrivateIpv4(v4);
    const [hi = "0", lo = "0"] = mapped[1].split(":");
    const n = (parseInt(hi, 16) << 16) | parseInt(lo, 16);
    return isPrivateIpv4([(n >>> 24) & 255, (n >>> 16) & 255]);
  }
  return false;
}

/** Is this host an address no deployed Worker should post to (private, link-local, metadata, loopback)? */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  if (isLoopbackHost(host) || INTERNAL_NAMES.has(host) || INTERNAL_SUFFIXES.some((s) => host.endsWith(s))) return true;
  if (host.startsWith("[")) return isPrivateIpv6(host);
  const v4 = ipv4(host);
  return v4 !== null && isPrivateIpv4(v4);
}

/**
 * Why a callback_url is refused, or null. Deployed: `https` to a public host only. With
 * `allowLoopback` (local development, `npm run dev`), also `http` or `https` to a loopback host.
 * The URL parser has already normalised numeric forms (`http://2130706433/` is 127.0.0.1).
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
  if (isPrivateHost(url.hostname)) return `host ${url.hostname} is a private, link-local, loopback or metadata address`;
  return null;
}
