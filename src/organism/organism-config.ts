import { z } from "zod";
import { errorMessage } from "../lib/error-message";

/** The organism's shape: which organs exist, their agents, and which task types they own. */
export const ORGAN_TYPES = ["Cognitive", "Actuator", "Utility"] as const;
export type OrganType = (typeof ORGAN_TYPES)[number];

const key = z.string().trim().toLowerCase().min(1).max(64);

const organSpecSchema = z.object({
  organ_id: z.string().regex(/^[a-z0-9_.-]{1,64}$/, "organ_id must be 1-64 chars of [a-z0-9_.-]"),
  organ_type: z.enum(ORGAN_TYPES),
  agent_count: z.number().int().min(1).max(32).default(3),
  /** Organ Durable Objects sharing this organ's agents (the seeds' Serve `num_replicas`). */
  replicas: z.number().int().min(1).max(64).default(1),
  task_types: z.array(key).default([]),
});

/** An explicit route, for (type, domain) pairs that should go somewhere other than the type's owner. */
const routeSchema = z.object({ task_type: key, domain: key.optional(), organ_id: z.string() });

export const organismConfigSchema = z
  .object({ organs: z.array(organSpecSchema).min(1).max(64), routes: z.array(routeSchema).default([]) })
  .superRefine((cfg, ctx) => {
    const ids = new Set<string>();
    for (const organ of cfg.organs) {
      if (ids.has(organ.organ_id)) ctx.addIssue({ code: "custom", message: `duplicate organ_id '${organ.organ_id}'` });
      ids.add(organ.organ_id);
      // Each replica holds a partition of the agents, so every replica needs at least one.
      if (organ.replicas > organ.agent_count) {
        ctx.addIssue({ code: "custom", message: `organ '${organ.organ_id}' has ${organ.replicas} replicas but only ${organ.agent_count} agents; replicas must be ≤ agent_count` });
      }
    }
    for (const route of cfg.routes) {
      if (!ids.has(route.organ_id)) ctx.addIssue({ code: "custom", message: `route names unknown organ '${route.organ_id}'` });
    }
  });

export type OrganSpec = z.infer<typeof organSpecSchema>;
export type OrganismConfig = z.infer<typeof organismConfigSchema>;

/** SeedCore's default organism. */
export const DEFAULT_ORGANISM_CONFIG: OrganismConfig = {
  organs: [
    {
      organ_id: "utility_organ_1",
      organ_type: "Utility",
      agent_count: 3,
      replicas: 1,
      task_types: ["general_query", "health_check", "status", "ping", "test_task", "test", "sleep", "flaky"],
    },
    { organ_id: "actuator_organ_1", organ_type: "Actuator", agent_count: 3, replicas: 1, task_types: ["execute", "workflow_step", "side_effect"] },
    { organ_id: "cognitive_organ_1", organ_type: "Cognitive", agent_count: 3, replicas: 1, task_types: ["plan", "analyze"] },
  ],
  routes: [],
};

export type OrganismConfigResult = { ok: true; config: OrganismConfig } | { ok: false; error: string };

/**
 * Parses an organism config (ORGANISM_CONFIG, or the `config` given to initialize_organism): absent
 * or blank → defaults; a string must be valid JSON; the value must match the schema (a typo must
 * surface as an error, not silently fall back to defaults). `source` names it in the error.
 */
export function parseOrganismConfig(raw: unknown, source = "ORGANISM_CONFIG"): OrganismConfigResult {
  if (raw === undefined || (typeof raw === "string" && raw.trim() === "")) return { ok: true, config: DEFAULT_ORGANISM_CONFIG };
  let json: unknown = raw;
  if (typeof raw === "string") {
    try {
      json = JSON.parse(raw);
    } catch (err) {
      return { ok: false, error: `${source} is not valid JSON: ${errorMessage(err)}` };
    }
  }
  const parsed = organismConfigSchema.safeParse(json);
  if (parsed.success) return { ok: true, config: parsed.data };
  const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
  return { ok: false, error: `${source} is invalid: ${detail}` };
}
