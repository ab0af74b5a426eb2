import { emptyMetrics, type CoordinatorMetrics } from "./metrics";
import { initialOcps, type OcpsState } from "./ocps";
import type { OrganismConfig } from "./organism-config";

/** What the coordinator keeps across evictions, in its synchronous KV storage (SQLite-backed). */
export interface PersistedRuntime {
  ocps: OcpsState;
  metrics: CoordinatorMetrics;
}

export interface PersistedOrganism {
  /** "healthy" lets a restarted object skip re-initialising organs; "shutdown" survives restarts. */
  status: "healthy" | "unhealthy" | "shutdown";
  config: OrganismConfig | null;
  error: string | null;
}

const RUNTIME = "runtime";
const ORGANISM = "organism";
const OVERRIDE = "config_override";

export function loadRuntime(kv: SyncKvStorage): PersistedRuntime {
  return kv.get<PersistedRuntime>(RUNTIME) ?? { ocps: initialOcps(), metrics: emptyMetrics() };
}

export function saveRuntime(kv: SyncKvStorage, runtime: PersistedRuntime): void {
  kv.put(RUNTIME, runtime);
}

export function loadOrganism(kv: SyncKvStorage): PersistedOrganism | undefined {
  return kv.get<PersistedOrganism>(ORGANISM);
}

export function saveOrganism(kv: SyncKvStorage, state: PersistedOrganism): void {
  kv.put(ORGANISM, state);
}

/** A config given to initialize_organism; it wins over ORGANISM_CONFIG until replaced ("" or null clears it). */
export function loadOverride(kv: SyncKvStorage): unknown {
  return kv.get<unknown>(OVERRIDE);
}

export function saveOverride(kv: SyncKvStorage, value: unknown): void {
  if (value === null || value === "") kv.delete(OVERRIDE);
  else kv.put(OVERRIDE, value);
}
