import { createRoute, z } from "@hono/zod-openapi";
import { DASHBOARD_HTML, dashboardCsp } from "../dashboard/page";
import { createRouter } from "../lib/router";

/** GET / : the dashboard page. It holds no data, so it is served without the token (lib/auth). */
export const dashboardRoutes = createRouter()
  .openapi(
    createRoute({
      method: "get",
      path: "/",
      summary: "Dashboard (HTML); it calls the JSON API with the token kept in the browser",
      tags: ["observability"],
      security: [],
      responses: { 200: { description: "the page", content: { "text/html": { schema: z.string() } } } },
    }),
    async (c) =>
      c.html(DASHBOARD_HTML, 200, {
        "content-security-policy": await dashboardCsp(),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-cache",
      }),
  );
