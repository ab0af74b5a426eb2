import { emptyMetrics, type CoordinatorMetrics } from "../src/organism/coordinator-metrics";
import { initialOcps, type OcpsState } from "../src/organism/ocps";
import type { OrganismConfig } from "../src/organism/organism-config";

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
const APPLIED = "applied_organism";
const EPOCH = "organ_epoch";

export function loadRuntime(kv: SyncKvStorage): PersistedRuntime {
  const saved = kv.get<PersistedRuntime>(RUNTIME);
  // Counters added since the state was saved start at zero.
  return { ocps: saved?.ocps ?? initialOcps(), metrics: { ...emptyMetrics(), ...saved?.metrics } };
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

/**
 * The organism the organs were last initialised to (after a failed attempt, each organ at the
 * larger replica count of the two): the next initialisation reaches every replica up to it.
 */
export function loadApplied(kv: SyncKvStorage): OrganismConfig | undefined {
  return kv.get<OrganismConfig>(APPLIED);
}

export function saveApplied(kv: SyncKvStorage, config: OrganismConfig): void {
  kv.put(APPLIED, config);
}

/**
 * The next organ layout epoch: above every one handed out before, and a clock reading so that
 * it keeps increasing even if this object's storage were lost while the organs kept theirs.
 */
export function nextEpoch(kv: SyncKvStorage, now: number): number {
  const epoch = Math.max(now, (kv.get<number>(EPOCH) ?? 0) + 1);
  kv.put(EPOCH, epoch);
  return epoch;
}
