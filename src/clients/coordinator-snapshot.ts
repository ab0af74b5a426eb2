import { z } from "zod";
import { organismStub } from "./organism-client";
import { settleWithin } from "../lib/timeout";

/** What /metrics and the dashboard need from the coordinator: its counters and its organs. */
const agentSchema = z.object({
  agent_id: z.string(),
  capability: z.number(),
  tasks_processed: z.number(),
});
const organSchema = z.object({
  organ_id: z.string(),
  organ_type: z.string(),
  tasks_processed: z.number(),
  replicas: z.array(z.object({ replica: z.number(), agent_count: z.number(), tasks_processed: z.number() })),
  agents: z.array(agentSchema),
});
const summarySchema = z.object({
  organs: z.record(z.string(), organSchema),
  metrics: z.object({
    p_fast: z.number(),
    tasks_total: z.number(),
    fast_path: z.number(),
    escalations: z.number(),
    slo_misses: z.number(),
  }),
});

export interface CoordinatorSnapshot {
  p_fast: number;
  tasks_total: number;
  fast_path: number;
  escalations: number;
  slo_misses: number;
  organs: z.infer<typeof organSchema>[];
}

export type SnapshotResult = { ok: true; snapshot: CoordinatorSnapshot } | { ok: false; error: string };

/**
 * One `summary()` call, bounded by `timeoutMs`. Never throws: a coordinator that is down, slow or
 * answers an unexpected shape is reported, so D1 metrics are still served.
 */
export async function readCoordinatorSnapshot(env: Env, timeoutMs: number): Promise<SnapshotResult> {
  // Inside an async function, so even a stub that throws at once becomes a settled failure.
  const call = await settleWithin((async () => organismStub(env).summary())(), timeoutMs, "coordinator");
  if (!call.ok) return call;
  if (!call.value.ok) return { ok: false, error: call.value.error };
  const parsed = summarySchema.safeParse(call.value.value);
  if (!parsed.success) return { ok: false, error: `unexpected summary: ${parsed.error.issues[0]?.message ?? "invalid"}` };
  const { metrics, organs } = parsed.data;
  return { ok: true, snapshot: { ...metrics, organs: Object.values(organs) } };
}
