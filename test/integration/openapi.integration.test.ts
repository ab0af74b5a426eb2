import { describe, expect, it } from "vitest";
import { createApp, DOC_PATHS } from "../../src/app";
import { api } from "../helpers/worker";

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { requestBody?: unknown; parameters?: unknown[]; responses: Record<string, { content?: unknown }> }>>;
}

const METHODS = ["get", "post", "put", "patch", "delete"];

/** `/tasks/{id}` in the document is `/tasks/:id` in the router. */
const toHonoPath = (p: string) => p.replace(/\{([^}]+)\}/g, ":$1");
const isDocPath = (p: string) => DOC_PATHS.some((d) => p === d || p === `/api/v1${d}`);

describe("GET /openapi.json", () => {
  it("lists exactly the routes the app serves, each with its response schemas", async () => {
    const res = await api("/openapi.json");
    expect(res.status).toBe(200);
    const doc = await res.json<OpenApiDoc>();
    expect(doc.openapi).toMatch(/^3\./);

    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!METHODS.includes(method)) continue;
        documented.add(`${method.toUpperCase()} ${toHonoPath(path)}`);
        const ok = Object.entries(op.responses).find(([code]) => code.startsWith("2"));
        expect(ok?.[1].content, `${method} ${path} documents a 2xx body`).toBeDefined();
      }
    }
    const served = new Set(
      createApp()
        .routes.filter((r) => r.method !== "ALL" && !isDocPath(r.path))
        .map((r) => `${r.method} ${r.path}`),
    );
    expect([...documented].sort()).toEqual([...served].sort());
    expect(served.size).toBeGreaterThan(30);
    for (const route of ["GET /tasks", "POST /tasks/batch", "GET /tasks/:id/status", "GET /api/v1/tasks/:id/status"]) {
      expect(served).toContain(route);
    }
  });

  it("documents request schemas: bodies, query and path parameters", async () => {
    const doc = await (await api("/api/v1/openapi.json")).json<OpenApiDoc>();
    expect(doc.paths["/tasks"]?.post?.requestBody).toBeDefined();
    expect(doc.paths["/tasks/batch"]?.post?.requestBody).toBeDefined();
    const listParams = (doc.paths["/tasks"]?.get?.parameters ?? []) as { name: string; in: string }[];
    expect(listParams.map((p) => p.name).sort()).toEqual(["concurrency_key", "cursor", "domain", "flow", "limit", "status", "type"]);
    const statusParams = (doc.paths["/tasks/{id}/status"]?.get?.parameters ?? []) as { name: string; in: string }[];
    expect(statusParams).toContainEqual(expect.objectContaining({ name: "id", in: "path" }));
  });
});

describe("GET /docs", () => {
  it("serves Swagger UI pointing at the document", async () => {
    for (const [path, spec] of [["/docs", "/openapi.json"], ["/api/v1/docs", "/api/v1/openapi.json"]] as const) {
      const res = await api(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/html");
      const html = await res.text();
      expect(html).toContain("SwaggerUIBundle");
      expect(html).toContain(spec);
    }
  });
});
