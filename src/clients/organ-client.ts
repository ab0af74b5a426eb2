import type { Config } from "../config";
import type { OrganTask, OrganTaskResult } from "../../durable-objects/organ-contracts";
import type { CircuitBreaker } from "../lib/circuit-breaker";
import { breakerFor, CLIENT_RETRY, organBreakerName, REAL_CLIENT_CLOCK, type ClientClock } from "./breakers";
import { guardedCall, type GuardOptions } from "./guarded-call";

/** The part of an Organ's RPC surface the coordinator calls per task batch. */
export interface OrganRpc {
  executeBatch(tasks: OrganTask[]): Promise<OrganTaskResult[]>;
}

export interface OrganClientDeps extends ClientClock {
  /** Called on every try, so a reset organ is reached through a fresh stub. */
  stub: (organId: string) => OrganRpc;
  breaker?: (organId: string) => CircuitBreaker;
}

/**
 * Organ calls from the coordinator: one breaker per organ (state per isolate, i.e. the
 * coordinator's), transient-only retries, and a DISPATCH_TIMEOUT_S bound per try. An open
 * breaker throws CircuitOpenError, which the fast path turns into a retriable task failure.
 */
export function organClient(config: Config, overrides: Omit<OrganClientDeps, keyof ClientClock> & Partial<ClientClock>) {
  const deps: OrganClientDeps = { ...REAL_CLIENT_CLOCK, ...overrides };
  const breaker = deps.breaker ?? ((organId: string) => breakerFor(organBreakerName(organId), config, deps.now));
  const opts = (organId: string): GuardOptions => ({
    timeoutMs: config.DISPATCH_TIMEOUT_S * 1000,
    what: `organ '${organId}'`,
    retry: { ...CLIENT_RETRY, random: deps.random, sleep: deps.sleep },
  });
  return {
    executeBatch(organId: string, tasks: OrganTask[]): Promise<OrganTaskResult[]> {
      return guardedCall(breaker(organId), () => deps.stub(organId).executeBatch(tasks), opts(organId));
    },
  };
}
