import type { OrganAggregate } from "../src/organism/control-contracts";
import type { OrganInitSpec, OrganSummary } from "../src/organism/organ-contracts";
import type { OrganSpec } from "../src/organism/organism-config";
import { replicaName } from "../src/organism/replicas";
import { settleWithin } from "../src/lib/timeout";

/** Organ start-up must not hold callers forever: past this, init fails and is retried later. */
export const ORGAN_INIT_TIMEOUT_MS = 10_000;

/** What the coordinator needs of an Organ replica's RPC surface at start-up and for summaries. */
export interface ReplicaRpc {
  initialize(spec: OrganInitSpec): Promise<OrganSummary>;
  /** Resolves to the destinations whose shipments are still waiting, with why. */
  deliver(): Promise<string[]>;
  getSummary(): Promise<OrganSummary>;
}

export type ReplicaStub = (name: string) => ReplicaRpc;

/**
 * Brings one organ to `spec`: every replica, old and new, takes the layout first; then each sends
 * the agents it no longer owns to their new replicas, so a shipment never reaches a replica that
 * cannot yet tell it owns the agent. Retired replicas (past the new count) keep nothing.
 */
async function initializeOrgan(spec: OrganSpec, previous: OrganSpec | undefined, stub: ReplicaStub, epoch: number): Promise<void> {
  const replicas = Array.from({ length: Math.max(spec.replicas, previous?.replicas ?? 0) }, (_, r) => stub(replicaName(spec.organ_id, r)));
  await Promise.all(replicas.map((r, replica) => r.initialize({ ...spec, replica, epoch })));
  const undelivered = (await Promise.all(replicas.map((r) => r.deliver()))).flat();
  if (undelivered.length > 0) throw new Error(`agent hand-off not delivered: ${undelivered.join("; ")}`);
}

/** Initialises every organ concurrently to layout `epoch`; resolves to an error message instead of throwing. */
export async function initializeOrgans(specs: readonly OrganSpec[], previous: readonly OrganSpec[], stub: ReplicaStub, epoch: number, timeoutMs = ORGAN_INIT_TIMEOUT_MS): Promise<string | undefined> {
  const before = new Map(previous.map((o) => [o.organ_id, o]));
  const init = await settleWithin(Promise.all(specs.map((spec) => initializeOrgan(spec, before.get(spec.organ_id), stub, epoch))), timeoutMs, "organ initialisation");
  return init.ok ? undefined : `organ initialisation failed: ${init.error}`;
}

/**
 * What to remember as applied after an attempt that failed part-way: it may already have moved
 * agents onto replicas past the old count, so each organ keeps the larger of the two counts and
 * the next attempt reaches (and empties, if they are retired) every replica that may hold one.
 */
export function widestOrgans(applied: readonly OrganSpec[], attempted: readonly OrganSpec[]): OrganSpec[] {
  const byId = new Map(applied.map((o) => [o.organ_id, o]));
  for (const o of attempted) {
    const before = byId.get(o.organ_id);
    if (!before || before.replicas < o.replicas) byId.set(o.organ_id, o);
  }
  return [...byId.values()];
}

/** One organ's replicas summed up, each replica listed. */
export async function summarizeOrgan(spec: OrganSpec, stub: ReplicaStub): Promise<OrganAggregate> {
  const replicas = await Promise.all(Array.from({ length: spec.replicas }, (_, r) => stub(replicaName(spec.organ_id, r)).getSummary()));
  return {
    organ_id: spec.organ_id,
    organ_type: spec.organ_type,
    task_types: spec.task_types,
    replicas: replicas.map((s) => ({ replica: s.replica, agent_count: s.agent_count, tasks_processed: s.tasks_processed })),
    agent_count: replicas.reduce((n, s) => n + s.agent_count, 0),
    tasks_processed: replicas.reduce((n, s) => n + s.tasks_processed, 0),
    agents: replicas.flatMap((s) => s.agents).sort((a, b) => a.agent_id.localeCompare(b.agent_id, undefined, { numeric: true })),
  };
}
