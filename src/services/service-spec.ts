import { z } from "zod";
import { jsonVar } from "../lib/json-var";

/**
 * One named service of the `SERVICES` config (DESIGN §16): an endpoint (`url`) or a service
 * binding (`binding`), the timeout of one call, how often a retryable answer is tried again, the
 * breaker's thresholds, a rate, and headers (a literal, or `secret:NAME` for the secret NAME).
 */
export const serviceSpecSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
    binding: z.string().min(1).max(64).optional(),
    timeout_s: z.number().positive().max(840).default(10),
    retries: z.number().int().min(0).max(10).default(2),
    breaker: z
      .object({ failures: z.number().int().min(1).max(1000).default(5), recovery_s: z.number().positive().max(3600).default(30) })
      .strict()
      .default({ failures: 5, recovery_s: 30 }),
    rate: z
      .object({ per_second: z.number().positive().optional(), per_minute: z.number().positive().optional() })
      .strict()
      .refine((r) => (r.per_second === undefined) !== (r.per_minute === undefined), { error: "give exactly one of per_second, per_minute" })
      .optional(),
    headers: z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "not a header name"), z.string()).default({}),
  })
  .strict()
  .refine((s) => (s.url === undefined) !== (s.binding === undefined), { error: "give exactly one of url, binding" });

export type ServiceSpec = z.output<typeof serviceSpecSchema>;
export type ServiceSpecs = Record<string, ServiceSpec>;

/** A service's name is a property of ctx.services: an identifier. */
export const SERVICE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** The cognitive planner's own client (src/organism/cognitive-planner.ts): not a SERVICES name. */
export const RESERVED_SERVICE = "cognitive";

/** SERVICES as it comes from wrangler [vars] (a JSON string; empty: none). */
export const servicesConfigSchema = jsonVar(
  z.record(z.string(), serviceSpecSchema).superRefine((services, ctx) => {
    for (const name of Object.keys(services)) {
      if (!SERVICE_NAME.test(name)) ctx.addIssue({ code: "custom", path: [name], message: "service names are identifiers ([A-Za-z_][A-Za-z0-9_]*, at most 64)" });
      else if (name === RESERVED_SERVICE) ctx.addIssue({ code: "custom", path: [name], message: `'${RESERVED_SERVICE}' is the cognitive planner's client (COGNITIVE_URL)` });
    }
  }),
);
