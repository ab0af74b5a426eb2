import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LATEST_MIGRATION } from "../../src/store/schema-version";
import { fetchWithEnv } from "../helpers/worker";

interface Ready {
  status: string;
  deps: Record<string, { ok: boolean; error?: string }>;
}

async function readyz(overrides: Partial<Env> = {}): Promise<{ status: number; body: Ready }> {
  const res = await fetchWithEnv(new Request("http://localhost/readyz"), overrides);
  return { status: res.status, body: await res.json<Ready>() };
}

// This file has its own D1, so it may break the migration ledger without harming other tests.
describe("GET /readyz", () => {
  it("answers 503 naming a bad config value", async () => {
    const { status, body } = await readyz({ TASK_LEASE_S: "soon" });
    expect(status).toBe(503);
    expect(body.status).toBe("not_ready");
    expect(body.deps.config?.ok).toBe(false);
    expect(body.deps.config?.error).toContain("TASK_LEASE_S");
  });

  it("answers 503 naming SERVICES when it is not valid JSON, and COGNITIVE_URL when it is not a URL", async () => {
    const services = await readyz({ SERVICES: "{billing:" } as Partial<Env>);
    expect(services.status).toBe(503);
    expect(services.body.deps.config?.error).toContain("SERVICES: must be a JSON object");
    const cognitive = await readyz({ COGNITIVE_URL: "not a url" } as Partial<Env>);
    expect(cognitive.status).toBe(503);
    expect(cognitive.body.deps.config?.error).toContain("COGNITIVE_URL");
  });

  it("answers 503 for a lease too short for its heartbeat, naming both values", async () => {
    const { status, body } = await readyz({ TASK_LEASE_S: "3" });
    expect(status).toBe(503);
    expect(body.deps.config?.error).toMatch(/HEARTBEAT_S \(20\).*TASK_LEASE_S \(3\)/);
  });

  it("answers 503 when the latest migration is not applied", async () => {
    await env.DB.prepare("DELETE FROM d1_migrations WHERE name = ?").bind(LATEST_MIGRATION).run();
    const { status, body } = await readyz();
    expect(status).toBe(503);
    expect(body.deps.d1?.ok).toBe(false);
    expect(body.deps.d1?.error).toContain(LATEST_MIGRATION);
  });
});
