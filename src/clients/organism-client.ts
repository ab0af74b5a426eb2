import type { OrganismManager } from "../../durable-objects/organism-manager";
import type { Config } from "../config";
import type { Remote } from "../lib/remote";
import type { TaskEnvelope, TaskOutcome } from "../contracts";
import type { CircuitBreaker } from "../lib/circuit-breaker";
import { breakerFor, CLIENT_RETRY, COORDINATOR_BREAKER, REAL_CLIENT_CLOCK, type ClientClock } from "./breakers";
import { guardedCall, runUnderPermit, type GuardOptions } from "./guarded-call";

/** The coordinator is a single Durable Object; every caller reaches it by this one name. */
export const COORDINATOR_NAME = "organism";

export type CoordinatorStub = Remote<Pick<OrganismManager, "ping" | "getStatus" | "getResilience" | "handleIncomingTasks" | "handleIncomingTask">>;

/** The coordinator's stub, typed by the class's own method signatures (see `Remote`). */
export function organismStub(env: Env): CoordinatorStub {
  return env.ORGANISM_MANAGER.get(env.ORGANISM_MANAGER.idFromName(COORDINATOR_NAME)) as unknown as CoordinatorStub;
}

/** Runs one task (or control message) synchronously through the coordinator. Unguarded. */
export function runOnCoordinator(env: Env, task: TaskEnvelope): Promise<TaskOutcome> {
  return organismStub(env).handleIncomingTask(task);
}

/** A control message as a task: the routes use this so control has one implementation. */
export function controlTask(type: string, params: Record<string, unknown> = {}): TaskEnvelope {
  return { id: crypto.randomUUID(), type, params, description: null, domain: null, drift_score: 0, attempt: 1 };
}

export type RunTasks = (tasks: TaskEnvelope[]) => Promise<TaskOutcome[]>;

/**
 * The dispatcher asks before it claims anything: either a call it may make (exactly one `run`,
 * or `release` when it claimed nothing), or how long the breaker wants callers to stay away.
 */
export type Admission = { admitted: true; run: RunTasks; release(): void } | { admitted: false; retryAfterMs: number };

/** The part of the coordinator's RPC surface the guarded client uses. */
export interface CoordinatorRpc {
  handleIncomingTasks(tasks: TaskEnvelope[]): Promise<TaskOutcome[]>;
  handleIncomingTask(task: TaskEnvelope): Promise<TaskOutcome>;
}

export interface CoordinatorClientDeps extends ClientClock {
  /** Called on every try, so a reset object is reached through a fresh stub. */
  stub?: () => CoordinatorRpc;
  /** Defaults to this isolate's shared coordinator breaker. */
  breaker?: CircuitBreaker;
}

/**
 * The coordinator behind a circuit breaker (CB_FAILURE_THRESHOLD / CB_RECOVERY_S), retries of
 * transient DO errors with backoff and jitter, and a DISPATCH_TIMEOUT_S bound on each try.
 * Outcomes (even failed tasks) are answers; only thrown errors and timeouts count as failures.
 */
export function coordinatorClient(env: Env, config: Config, deps: CoordinatorClientDeps = REAL_CLIENT_CLOCK) {
  const breaker = deps.breaker ?? breakerFor(COORDINATOR_BREAKER, config, deps.now);
  const stub = deps.stub ?? ((): CoordinatorRpc => organismStub(env));
  const opts: GuardOptions = {
    timeoutMs: config.DISPATCH_TIMEOUT_S * 1000,
    what: "coordinator",
    retry: { ...CLIENT_RETRY, random: deps.random, sleep: deps.sleep },
  };
  return {
    breaker,
    admit(): Admission {
      const permit = breaker.acquire();
      if (!permit) return { admitted: false, retryAfterMs: breaker.retryAfterMs() };
      return {
        admitted: true,
        run: (tasks) => runUnderPermit(permit, () => stub().handleIncomingTasks(tasks), opts),
        release: () => permit.release(),
      };
    },
    /** One task or control message; a CircuitOpenError when the breaker is open. */
    run(task: TaskEnvelope): Promise<TaskOutcome> {
      return guardedCall(breaker, () => stub().handleIncomingTask(task), opts);
    },
  };
}
