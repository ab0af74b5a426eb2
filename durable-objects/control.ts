import { z } from "zod";
import type { TaskEnvelope, TaskOutcome } from "../src/contracts";
import type { OrganSummary, OrganTaskResult } from "./organ-contracts";
import type { OrganSpec } from "./organism-config";
import type { RunOnOrgan } from "./task-paths";

/** Task types the coordinator answers itself (`path: "control"`), never routed to an organ. */
export const CONTROL_TYPES = new Set([
  "get_organism_status", "get_organism_summary", "execute_on_organ", "execute_on_random_organ",
  "initialize_organism", "shutdown_organism", "get_metrics", "get_routing_debug",
]);

export interface CoordinatorStatusView {
  status: "initializing" | "healthy" | "unhealthy" | "shutdown";
  organism_initialized: boolean;
  organs: OrganSpec[];
  error?: string;
}

/** What control messages may do to the coordinator; kept narrow so they cannot reach storage. */
export interface ControlHost {
  status(): CoordinatorStatusView;
  /** Runs (or awaits) init when needed; true when the organism is healthy afterwards. */
  ensureReady(): Promise<boolean>;
  /** Re-initialises, with `configOverride` when given; a config that does not parse is refused with the reason, changing nothing. */
  reinitialize(configOverride: unknown): Promise<string | undefined>;
  shutdown(): void;
  run: RunOnOrgan;
  summary(organId: string): Promise<OrganSummary>;
  metrics(): Record<string, unknown>;
  routingDebug(type: string, domain: string | null, drift: number): Record<string, unknown>;
  /** Deterministic stand-in for "random": rotates through the organs. */
  nextOrganIndex(): number;
}

const taskData = z.object({
  type: z.string().trim().toLowerCase().min(1).max(64).optional(),
  task_type: z.string().trim().toLowerCase().min(1).max(64).optional(),
  params: z.record(z.string(), z.unknown()).default({}),
  description: z.string().max(4096).nullable().default(null),
  domain: z.string().max(64).nullable().default(null),
}).refine((d) => d.type ?? d.task_type, "task_data.type is required");

const ok = (task: TaskEnvelope, result: Record<string, unknown>): TaskOutcome => ({ id: task.id, ok: true, result: { success: true, path: "control", ...result } });
/** Why a control message failed, so routes can pick an HTTP status without parsing messages. */
export type ControlErrorCode = "invalid_params" | "unknown_organ" | "unavailable" | "task_failed";
const fail = (task: TaskEnvelope, error: string, code: ControlErrorCode): TaskOutcome => ({
  id: task.id, ok: false, retriable: code === "unavailable", error, result: { success: false, path: "control", code, error },
});

export async function runControl(host: ControlHost, task: TaskEnvelope): Promise<TaskOutcome> {
  const type = task.type.trim().toLowerCase();
  const p = task.params;
  if (type === "get_organism_status") {
    await host.ensureReady();
    return ok(task, { ...host.status() });
  }
  if (type === "initialize_organism") {
    const refused = await host.reinitialize(p["config"]);
    if (refused !== undefined) return fail(task, refused, "invalid_params");
    const s = host.status();
    return s.status === "healthy" ? ok(task, { ...s }) : fail(task, s.error ?? `organism is ${s.status}`, "unavailable");
  }
  if (type === "shutdown_organism") {
    host.shutdown();
    return ok(task, { ...host.status() });
  }
  if (type === "get_metrics") return ok(task, { metrics: host.metrics() });
  if (type === "get_routing_debug") {
    const t = p["task_type"];
    if (typeof t !== "string" || t.trim() === "") return fail(task, "invalid params: params.task_type is required", "invalid_params");
    const domain = typeof p["domain"] === "string" ? p["domain"] : null;
    const drift = typeof p["drift_score"] === "number" ? p["drift_score"] : 0;
    if (!(await host.ensureReady())) return unavailable(host, task);
    return ok(task, host.routingDebug(t, domain, drift));
  }
  if (!(await host.ensureReady())) return unavailable(host, task);
  const organs = host.status().organs;
  if (type === "get_organism_summary") {
    const entries = await Promise.all(organs.map(async (o) => [o.organ_id, await host.summary(o.organ_id)] as const));
    return ok(task, { organism_initialized: true, organs: Object.fromEntries(entries), metrics: host.metrics() });
  }
  // execute_on_organ / execute_on_random_organ
  const parsed = taskData.safeParse(p["task_data"]);
  if (!parsed.success) return fail(task, `invalid params: task_data: ${parsed.error.issues[0]?.message ?? "invalid"}`, "invalid_params");
  let organId: string;
  if (type === "execute_on_organ") {
    const wanted = p["organ_id"];
    if (typeof wanted !== "string" || !organs.some((o) => o.organ_id === wanted)) return fail(task, `unknown organ '${String(wanted)}'`, "unknown_organ");
    organId = wanted;
  } else {
    organId = (organs[host.nextOrganIndex() % organs.length] as OrganSpec).organ_id;
  }
  const d = parsed.data;
  const sub = { id: `${task.id}:control`, type: (d.type ?? d.task_type) as string, params: d.params, description: d.description, domain: d.domain, attempt: task.attempt };
  let r: OrganTaskResult;
  try {
    [r] = (await host.run(organId, [sub])) as [OrganTaskResult];
  } catch (err) {
    return fail(task, `organ '${organId}' unavailable: ${String(err)}`, "unavailable");
  }
  const result = { organ_id: organId, agent_id: r.agent_id, latency_ms: r.latency_ms, result: r.result ?? null, ...(r.error ? { error: r.error } : {}) };
  if (r.success) return ok(task, result);
  return { id: task.id, ok: false, retriable: r.retry, error: r.error ?? "task failed", result: { success: false, path: "control", code: "task_failed", ...result } };
}

function unavailable(host: ControlHost, task: TaskEnvelope): TaskOutcome {
  const s = host.status();
  return fail(task, `organism is ${s.status}${s.error ? `: ${s.error}` : ""}`, "unavailable");
}
