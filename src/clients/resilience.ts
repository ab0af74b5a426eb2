import type { LoadSnapshot } from "../../durable-objects/load-shedder";
import { authFailStats, type AuthFailStats } from "../lib/auth-throttle";
import type { BreakerSnapshot } from "../lib/circuit-breaker";
import { rateLimitStats, type RateLimitStats } from "../lib/rate-limit";
import { settleWithin } from "../lib/timeout";
import { cognitiveStats, type CognitiveStats } from "../organism/cognitive-planner";
import { isolateServiceStats } from "../services/registry";
import { combineServiceStats, gatherOrganServiceStats, type AggregatedServiceStats, type GatherOptions, type OrganStatsRpc, type ServiceSources } from "./organ-service-stats";
import { breakerSnapshot, organBreakerName } from "./breakers";
import { organismStub } from "./organism-client";

export interface ResilienceSnapshot {
  /** This Worker isolate's breakers (`coordinator`, …). Per isolate: another isolate may differ. */
  breakers: Record<string, BreakerSnapshot>;
  /** The coordinator's load shedding; null when it could not be asked. */
  coordinator_load: LoadSnapshot | null;
  /** This isolate's breakers towards organ replicas (`organ:<replica>`), a subset of `breakers`. */
  organ_breakers: Record<string, BreakerSnapshot>;
  /** This isolate's API rate-limit counters. */
  rate_limit: RateLimitStats;
  /** This isolate's failed-authentication counters (429s for addresses that failed too often). */
  auth_failures: AuthFailStats;
  /**
   * Named service clients (SERVICES, and `cognitive`): call counts summed over this isolate and
   * every organ replica's isolate that answered (each isolate once); `breaker` the worst
   * isolate's, `breakers` isolates per state.
   */
  services: Record<string, AggregatedServiceStats>;
  /** Whose numbers `services` holds: isolates, organ replicas asked, answered, missing. */
  service_sources: ServiceSources;
  /** This isolate's cognitive planner: LLM plans and fallbacks by reason. */
  cognitive: CognitiveStats;
  /** Why the coordinator's part is missing. */
  coordinator_error?: string;
}

/**
 * Breaker states, sheds and 429 counts in one object, for GET /organism/status and /metrics.
 * Never throws: a coordinator that is down or slow leaves its part null and says why. The
 * coordinator is asked directly (not through its breaker), so the numbers show even when open.
 */
export async function resilienceSnapshot(env: Env, timeoutMs = 3000, organStats: GatherOptions = {}): Promise<ResilienceSnapshot> {
  const local = { breakers: breakerSnapshot(), organ_breakers: breakerSnapshot(organBreakerName("")), rate_limit: rateLimitStats(), auth_failures: authFailStats(), cognitive: cognitiveStats() };
  const mine = isolateServiceStats();
  // Inside an async function, so even a stub that throws at once becomes a settled failure.
  const remote = await settleWithin((async () => organismStub(env).getResilience())(), timeoutMs, "coordinator");
  // The replicas come from the coordinator; without it only this isolate's numbers are shown.
  const replicas = remote.ok && Array.isArray(remote.value.replicas) ? remote.value.replicas : [];
  const organs = await gatherOrganServiceStats((name) => organStatsStub(env, name), replicas, organStats);
  const services = combineServiceStats(mine, organs, replicas.length);
  return remote.ok
    ? { ...local, ...services, coordinator_load: remote.value.load }
    : { ...local, ...services, coordinator_load: null, coordinator_error: remote.error };
}

function organStatsStub(env: Env, replica: string): OrganStatsRpc {
  return env.ORGAN.get(env.ORGAN.idFromName(replica)) as unknown as OrganStatsRpc;
}
