import { z } from "@hono/zod-openapi";
import { MAX_CURSOR_LENGTH } from "../lib/cursor";
import { BULK_STATUSES, type BulkAction } from "../store/bulk-tasks";
import { taskTypeSchema } from "./task";

export const MAX_BULK_LIMIT = 1000;
export const DEFAULT_BULK_LIMIT = 100;

const FILTER_FIELDS = ["status", "type", "domain", "created_before", "created_after", "error_contains"] as const;
const time = (description: string) => z.iso.datetime({ offset: true }).optional().openapi({ description, example: "2026-01-01T00:00:00Z" });

/** Body of POST /tasks/bulk/{action}: a filter (never empty), a limit, and the previous call's `next`. */
export function bulkInputSchema(action: BulkAction) {
  return z
    .object({
      status: z.enum(BULK_STATUSES[action]).optional(),
      type: taskTypeSchema.optional(),
      domain: z.string().min(1).max(64).optional(),
      created_before: time("created strictly before this time"),
      created_after: time("created at or after this time"),
      error_contains: z.string().min(1).max(256).optional().openapi({ description: "a substring of the error (ASCII case-insensitive)" }),
      limit: z.number().int().min(1).max(MAX_BULK_LIMIT).default(DEFAULT_BULK_LIMIT).openapi({ description: "the most tasks this call touches" }),
      cursor: z.string().min(1).max(MAX_CURSOR_LENGTH).optional().openapi({ description: "`next` of the previous call (opaque)" }),
    })
    .strict()
    .refine((b) => FILTER_FIELDS.some((f) => b[f] !== undefined), {
      message: `an empty filter is refused: give at least one of ${FILTER_FIELDS.join(", ")}`,
    })
    .openapi(`Bulk${action[0]?.toUpperCase()}${action.slice(1)}Input`);
}

export const bulkResultSchema = z
  .object({
    affected: z.number().int().openapi({ description: "tasks this call changed (or deleted)" }),
    next: z.string().nullable().openapi({ description: "pass as `cursor` to continue; null when nothing is left to look at" }),
  })
  .openapi("BulkResult");
