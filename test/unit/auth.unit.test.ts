import { describe, expect, it } from "vitest";
import { isLoopbackHost, isPublicPath, tokensMatch } from "../../src/lib/auth";

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
