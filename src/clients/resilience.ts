import type { LoadSnapshot } from "../../durable-objects/load-shedder";
import type { BreakerSnapshot } from "../lib/circuit-breaker";
import { rateLimitStats, type RateLimitStats } from "../lib/rate-limit";
import { settleWithin } from "../lib/timeout";
import { breakerSnapshot } from "./breakers";
import { organismStub } from "./organism-client";

export interface ResilienceSnapshot {
  /** This Worker isolate's breakers (`coordinator`, …). Per isolate: another isolate may differ. */
  breakers: Record<string, BreakerSnapshot>;
  /** The coordinator's load shedding; null when it could not be asked. */
  coordinator_load: LoadSnapshot | null;
  /** The coordinator's breakers towards its organs (`organ:<id>`); null when it could not be asked. */
  organ_breakers: Record<string, BreakerSnapshot> | null;
  /** This isolate's API rate-limit counters. */
  rate_limit: RateLimitStats;
  /** Why the coordinator's part is missing. */
  coordinator_error?: string;
}

/**
 * Breaker states, sheds and 429 counts in one object, for GET /organism/status.
 * Never throws: a coordinator that is down or slow leaves its part null and says why. The
 * coordinator is asked directly (not through its breaker), so the numbers show even when open.
 */
export async function resilienceSnapshot(env: Env, timeoutMs = 3000): Promise<ResilienceSnapshot> {
  const local = { breakers: breakerSnapshot(), rate_limit: rateLimitStats() };
  const remote = await settleWithin(organismStub(env).getResilience(), timeoutMs, "coordinator");
  return remote.ok
    ? { ...local, coordinator_load: remote.value.load, organ_breakers: remote.value.organ_breakers }
    : { ...local, coordinator_load: null, organ_breakers: null, coordinator_error: remote.error };
}
