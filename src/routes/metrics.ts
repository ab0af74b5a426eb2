import { createRoute, z } from "@hono/zod-openapi";
import { readCoordinatorSnapshot } from "../clients/coordinator-snapshot";
import { resilienceSnapshot } from "../clients/resilience";
import { TASK_STATUSES } from "../db/schema";
import { buildMetricFamilies } from "../lib/metric-families";
import { formatMetrics, PROMETHEUS_CONTENT_TYPE } from "../lib/prometheus";
import { createRouter } from "../lib/router";
import { toIso } from "../lib/time";
import { errorResponses } from "../schemas/task";
import { openDb } from "../store/db";
import { readMetricsSnapshot } from "../store/metrics-queries";


/** A slow coordinator must not stall a scrape: its part is skipped after this long. */
const COORDINATOR_SCRAPE_MS = 2000;


const statsQuerySchema = z
  .object({ minutes: z.coerce.number().int().min(1).max(60).default(15).openapi({ type: "integer", example: 15 }) })
  .strict();

const minuteSchema = z.object({
  minute: z.string().openapi({ description: "start of the minute, ISO-8601 UTC" }),
  submitted: z.number().int(),
  completed: z.number().int(),
  failed: z.number().int(),
  retried: z.number().int(),
});

const statsSchema = z
  .object({
    by_status: z.record(z.enum(TASK_STATUSES), z.number().int()),
    total: z.number().int(),
    throughput: z.array(minuteSchema).openapi({ description: "one entry per minute, oldest first, the current minute last" }),
  })
  .openapi("TaskStats");

/** GET /metrics (Prometheus) and GET /stats (the dashboard's counts and throughput). */
export const metricsRoutes = createRouter()
  .openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      summary: "Prometheus metrics (text exposition format)",
      tags: ["observability"],
      responses: {
        200: { description: "metrics, names prefixed seedcore_", content: { "text/plain": { schema: z.string() } } },
        ...errorResponses(401),
      },
    }),
    async (c) => {
      const [d1, coordinator, resilience] = await Promise.all([
        // Per-minute rows are for /stats; a scrape skips them.
        readMetricsSnapshot(openDb(c.env.DB), Number.MAX_SAFE_INTEGER),
        readCoordinatorSnapshot(c.env, COORDINATOR_SCRAPE_MS),
        resilienceSnapshot(c.env, COORDINATOR_SCRAPE_MS),
      ]);
      if (!coordinator.ok) console.warn(`metrics: coordinator part skipped: ${coordinator.error}`);
      const text = formatMetrics(buildMetricFamilies(d1, coordinator.ok ? coordinator.snapshot : null, resilience));
      return c.text(text, 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/stats",
      summary: "Counts by status and per-minute throughput (for the dashboard)",
      tags: ["observability"],
      request: { query: statsQuerySchema },
      responses: {
        200: { description: "the counts", content: { "application/json": { schema: statsSchema } } },
        ...errorResponses(400, 401),
      },
    }),
    async (c) => {
      const { minutes } = c.req.valid("query");
      const db = openDb(c.env.DB);
      const now = Date.now();
      const first = Math.floor(now / 60_000) * 60_000 - (minutes - 1) * 60_000;
      const { byStatus: counts, throughput: rows } = await readMetricsSnapshot(db, first);
      const byStatus = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<(typeof TASK_STATUSES)[number], number>;
      for (const r of counts) byStatus[r.status] = r.n;
      const byMinute = new Map(rows.map((r) => [r.minute, r]));
      const throughput = Array.from({ length: minutes }, (_, i) => {
        const minute = first + i * 60_000;
        const r = byMinute.get(minute);
        return {
          minute: toIso(minute) as string,
          submitted: r?.submitted ?? 0,
          completed: r?.completed ?? 0,
          failed: r?.failed ?? 0,
          retried: r?.retried ?? 0,
        };
      });
      const total = counts.reduce((n, r) => n + r.n, 0);
      return c.json({ by_status: byStatus, total, throughput }, 200);
    },
  );
