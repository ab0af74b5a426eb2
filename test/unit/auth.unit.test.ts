import { describe, expect, it } from "vitest";
import { isLoopbackHost, isPublicPath, tokensMatch } from "../../src/lib/auth";
import { AUTH_FAIL_PERIOD_S, authFailKey, blockedForS, recordAuthFailure } from "../../src/lib/auth-throttle";

describe("isLoopbackHost", () => {
  it.each(["localhost", "LOCALHOST", "localhost.", "127.0.0.1", "127.255.255.254", "[::1]"])("accepts %s", (h) => {
    expect(isLoopbackHost(h)).toBe(true);
  });
  it.each(["example.com", "localhost.example.com", "mylocalhost", "128.0.0.1", "127.0.0.256", "127.0.0", "10.0.0.1", "[::2]", "0.0.0.0", ""])(
    "refuses %s",
    (h) => {
      expect(isLoopbackHost(h)).toBe(false);
    },
  );
});

describe("isPublicPath", () => {
  it("opens only the health routes and the dashboard shell, in both mounts", () => {
    for (const p of ["/health", "/readyz", "/coordinator/health", "/organism/health", "/api/v1/health", "/api/v1/organism/health", "/", "/api/v1/"]) {
      expect(isPublicPath(p)).toBe(true);
    }
    for (const p of ["/tasks", "/health/", "/healthz", "/organism/status", "/docs", "/openapi.json", "/api/v2/health"]) {
      expect(isPublicPath(p)).toBe(false);
    }
  });
});

describe("tokensMatch", () => {
  it("matches only the exact token", async () => {
    expect(await tokensMatch("s3cret", "s3cret")).toBe(true);
    for (const other of ["", "s3cre", "s3cret ", "S3cret", "s3cret-longer"]) expect(await tokensMatch(other, "s3cret")).toBe(false);
  });
});

describe("auth-failure blocks", () => {
  const deny = { limit: async () => ({ success: false }) };
  const allow = { limit: async () => ({ success: true }) };

  it("key by client address", () => {
    expect(authFailKey("203.0.113.9")).toBe("authfail:203.0.113.9");
    expect(authFailKey(undefined)).toBe("authfail:unknown");
  });

  it("start when the limiter says no and last one period", async () => {
    const key = `authfail:${crypto.randomUUID()}`;
    expect(await recordAuthFailure(allow, key, 0)).toBe(0);
    expect(blockedForS(key, 0)).toBe(0);
    expect(await recordAuthFailure(deny, key, 0)).toBe(AUTH_FAIL_PERIOD_S);
    expect(blockedForS(key, 1)).toBe(AUTH_FAIL_PERIOD_S);
    expect(blockedForS(key, AUTH_FAIL_PERIOD_S * 1000 - 999)).toBe(1);
    expect(blockedForS(key, AUTH_FAIL_PERIOD_S * 1000)).toBe(0);
  });

  it("never hold more than 10,000 addresses: the oldest block goes first", async () => {
    const now = 4e12; // later than any block another test made, so those have all ended
    const key = (i: number) => `authfail:bulk-${i}`;
    for (let i = 0; i <= 10_000; i++) await recordAuthFailure(deny, key(i), now);
    expect(blockedForS(key(0), now)).toBe(0);
    expect(blockedForS(key(1), now)).toBe(AUTH_FAIL_PERIOD_S);
    expect(blockedForS(key(10_000), now)).toBe(AUTH_FAIL_PERIOD_S);
  });
});
