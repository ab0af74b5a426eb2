import { exports } from "cloudflare:workers";
import { describe, expect, expectTypeOf, it } from "vitest";
import { createClient } from "../../src/client";
import type { TaskStatus } from "../../src/db/schema";
import { drain } from "../helpers/dispatch";

/** The typed client over the Worker's own fetch (routing, middleware and errors included). */
const api = createClient("http://localhost", { fetch: (input, init) => exports.default.fetch(new Request(input, init)) });

describe("the typed client (hc<AppType>)", () => {
  it("is typed by the routes: paths, parameters, bodies and answers", async () => {
    const created = await api.tasks.$post({ json: { type: "test_task", params: { via: "client" } }, query: {}, header: {} });
    expect(created.status).toBe(201);
    if (created.status !== 201) throw new Error("not created");
    const task = await created.json();
    expectTypeOf(task.status).toEqualTypeOf<TaskStatus>();
    expectTypeOf(task.depends_on).toEqualTypeOf<string[]>();
    await drain();

    const read = await api.tasks[":id"].$get({ param: { id: task.id.slice(0, 8) }, query: { wait: "5" } });
    expect(read.headers.get("SeedCore-Finished")).toBe("true");
    if (read.status !== 200) throw new Error(`status ${read.status}`);
    expect(await read.json()).toMatchObject({ id: task.id, status: "completed" });

    const events = await api.tasks[":id"].events.$get({ param: { id: task.id } });
    if (events.status !== 200) throw new Error(`status ${events.status}`);
    expect((await events.json()).items.map((e) => e.to_status)).toEqual(["queued", "running", "completed"]);

    const page = await api.tasks.$get({ query: { type: "test_task", limit: "5" } });
    if (page.status !== 200) throw new Error(`status ${page.status}`);
    expect((await page.json()).items.length).toBeGreaterThan(0);

    const versioned = await api.api.v1.health.$get();
    expect(await versioned.json()).toMatchObject({ status: "healthy" });
  });

  it("answers errors with the API's error body", async () => {
    const res = await api.tasks[":id"].$get({ param: { id: "00000000-0000-4000-8000-000000000000" }, query: {} });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
  });

  it("refuses at compile time what the routes do not accept", () => {
    // Type-level checks: `npm run typecheck` fails if any of these becomes valid.
    const never = () => {
      // @ts-expect-error no such route
      void api.taskz.$get();
      // @ts-expect-error type must be a string
      void api.tasks.$post({ json: { type: 1 }, query: {}, header: {} });
      // @ts-expect-error the id parameter is required
      void api.tasks[":id"].$get({ query: {} });
    };
    expect(typeof never).toBe("function");
  });
});
