import type { OrganismManager } from "../../durable-objects/organism-manager";
import type { Config } from "../config";
import type { CircuitBreaker } from "../lib/circuit-breaker";
import type { Remote } from "../lib/remote";
import type { DecideResult, DecideTask, PassReport } from "../organism/decisions";
import { breakerFor, COORDINATOR_BREAKER, COORDINATOR_CALL_TIMEOUT_MS, COORDINATOR_RETRY, REAL_CLIENT_CLOCK, type ClientClock } from "./breakers";
import { guardedCall, runUnderPermit, type GuardOptions } from "./guarded-call";

/** The coordinator is a single Durable Object; every caller reaches it by this one name. */
export const COORDINATOR_NAME = "organism";

export type CoordinatorStub = Remote<
  Pick<
    OrganismManager,
    "ping" | "getStatus" | "getResilience" | "decide" | "report" | "initialize" | "shutdown" | "summary" | "metricsView" | "routingDebug" | "executeOn" | "executeOnRandom"
  >
>;

/** The coordinator's stub, typed by the class's own method signatures (see `Remote`). */
export function organismStub(env: Env): CoordinatorStub {
  return env.ORGANISM_MANAGER.get(env.ORGANISM_MANAGER.idFromName(COORDINATOR_NAME)) as unknown as CoordinatorStub;
}

export type Decide = (pass: string, tasks: DecideTask[]) => Promise<DecideResult>;

/**
 * A pass asks before it claims anything: either one `decide` call it may make (or `release` it
 * unused when nothing was claimed), or how long the breaker wants callers to stay away.
 */
export type Admission = { admitted: true; decide: Decide; release(): void } | { admitted: false; retryAfterMs: number };

export interface CoordinatorClientDeps extends ClientClock {
  /** Called on every try, so a reset object is reached through a fresh stub. */
  stub?: () => CoordinatorStub;
  /** Defaults to this isolate's shared coordinator breaker. */
  breaker?: CircuitBreaker;
  /** Per try; defaults to COORDINATOR_CALL_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * The coordinator behind a circuit breaker (CB_FAILURE_THRESHOLD / CB_RECOVERY_S): each call has
 * one short timeout and retries only errors that say a retry is safe. An outage opens the
 * breaker, and a pass that is refused claims nothing, so an outage costs no task an attempt.
 */
export function coordinatorClient(env: Env, config: Config, deps: CoordinatorClientDeps = REAL_CLIENT_CLOCK) {
  const breaker = deps.breaker ?? breakerFor(COORDINATOR_BREAKER, config, deps.now);
  const stub = deps.stub ?? ((): CoordinatorStub => organismStub(env));
  const opts: GuardOptions = { timeoutMs: deps.timeoutMs ?? COORDINATOR_CALL_TIMEOUT_MS, what: "coordinator", retry: { ...COORDINATOR_RETRY, random: deps.random, sleep: deps.sleep } };
  return {
    breaker,
    admit(): Admission {
      const permit = breaker.acquire();
      if (!permit) return { admitted: false, retryAfterMs: breaker.retryAfterMs() };
      return {
        admitted: true,
        decide: (pass, tasks) => runUnderPermit(permit, () => stub().decide(pass, tasks), opts),
        release: () => permit.release(),
      };
    },
    /** One guarded call (the control routes); a CircuitOpenError when the breaker is open. */
    call<T>(fn: (coordinator: CoordinatorStub) => Promise<T>): Promise<T> {
      return guardedCall(breaker, () => fn(stub()), opts);
    },
    /** Best effort: a lost report only leaves the coordinator's counters behind. */
    report(report: PassReport): Promise<void> {
      return stub().report(report);
    },
  };
}

export type CoordinatorClient = ReturnType<typeof coordinatorClient>;
