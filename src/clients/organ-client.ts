import type { Config } from "../config";
import type { CircuitBreaker } from "../lib/circuit-breaker";
import { RPC_LIMITS, withMargin } from "../lib/platform-limits";
import type { Remote } from "../lib/remote";
import type { Organ } from "../../durable-objects/organ";
import type { OrganCallLimits, OrganTask, OrganTaskResult } from "../organism/organ-contracts";
import { breakerFor, organBreakerName, ORGAN_RETRY, REAL_CLIENT_CLOCK, type ClientClock } from "./breakers";
import { guardedCall, type GuardOptions } from "./guarded-call";

/** The part of an Organ replica's RPC surface the dispatcher calls. */
export type OrganRpc = Remote<Pick<Organ, "executeBatch" | "collect">>;

export interface OrganClientDeps extends ClientClock {
  /** Called on every try, so a reset organ is reached through a fresh stub. */
  stub: (replicaName: string) => OrganRpc;
  breaker?: (replicaName: string) => CircuitBreaker;
}

/** An organ replica's stub by name (see `replicaName`), typed by the class's own signatures. */
export function organStub(env: Env, replicaName: string): OrganRpc {
  return env.ORGAN.get(env.ORGAN.idFromName(replicaName)) as unknown as OrganRpc;
}

/** What one organ call may return per response: the rest is fetched with `collect`. */
export const ORGAN_RESPONSE_BUDGET_BYTES = withMargin(RPC_LIMITS.messageBytes);

/**
 * The dispatcher's calls to organ replicas: one breaker per replica (state per isolate), one
 * retry for errors that say it is safe, and the time left in the pass as the timeout. The
 * organ holds back results past the response budget; they are collected in further calls.
 */
export function organClient(config: Config, overrides: Omit<OrganClientDeps, keyof ClientClock> & Partial<ClientClock>) {
  const deps: OrganClientDeps = { ...REAL_CLIENT_CLOCK, ...overrides };
  const breaker = deps.breaker ?? ((name: string) => breakerFor(organBreakerName(name), config, deps.now));
  const limits: OrganCallLimits = { resultMaxBytes: config.RESULT_MAX_BYTES, responseBudgetBytes: ORGAN_RESPONSE_BUDGET_BYTES };
  return {
    async executeBatch(replica: string, tasks: OrganTask[], timeoutMs: number): Promise<OrganTaskResult[]> {
      const opts: GuardOptions = { timeoutMs, what: `organ '${replica}'`, retry: { ...ORGAN_RETRY, random: deps.random, sleep: deps.sleep } };
      const first = await guardedCall(breaker(replica), () => deps.stub(replica).executeBatch(tasks, limits), opts);
      const results = [...first.results];
      for (let held = first.held; held !== null; ) {
        const next = await deps.stub(replica).collect(held, limits.responseBudgetBytes);
        results.push(...next.results);
        held = next.held;
      }
      return results;
    },
  };
}

export type OrganClient = ReturnType<typeof organClient>;
