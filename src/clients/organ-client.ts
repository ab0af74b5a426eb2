import type { Config } from "../config";
import type { CircuitBreaker } from "../lib/circuit-breaker";
import type { Remote } from "../lib/remote";
import type { Organ } from "../../durable-objects/organ";
import type { RunReport, TaskWork } from "../organism/organ-contracts";
import { breakerFor, organBreakerName, ORGAN_RETRY, REAL_CLIENT_CLOCK, type ClientClock } from "./breakers";
import { guardedCall, type GuardOptions } from "./guarded-call";
import { withTimeout } from "../lib/timeout";

/** The part of an Organ replica's RPC surface the dispatcher calls. */
export type OrganRpc = Remote<Pick<Organ, "run" | "runGroup" | "collect" | "abort">>;

export interface OrganClientDeps extends ClientClock {
  /** Called on every try, so a reset organ is reached through a fresh stub. */
  stub: (replicaName: string) => OrganRpc;
  breaker?: (replicaName: string) => CircuitBreaker;
}

/** An organ replica's stub by name (see `replicaName`), typed by the class's own signatures. */
export function organStub(env: Env, replicaName: string): OrganRpc {
  return env.ORGAN.get(env.ORGAN.idFromName(replicaName)) as unknown as OrganRpc;
}

/**
 * The dispatcher's calls to organ replicas: one task per call, so each outcome comes back when its
 * task ends and each task's outgoing connections are its own request's. One breaker per replica
 * (state per isolate), one retry for errors that say it is safe, the task's deadline as the timeout.
 */
export function organClient(config: Config, overrides: Omit<OrganClientDeps, keyof ClientClock> & Partial<ClientClock>) {
  const deps: OrganClientDeps = { ...REAL_CLIENT_CLOCK, ...overrides };
  const breaker = deps.breaker ?? ((name: string) => breakerFor(organBreakerName(name), config, deps.now));
  return {
    run(replica: string, work: TaskWork, timeoutMs: number): Promise<RunReport> {
      const opts: GuardOptions = { timeoutMs, what: `organ '${replica}'`, retry: { ...ORGAN_RETRY, random: deps.random, sleep: deps.sleep } };
      return guardedCall(breaker(replica), () => deps.stub(replica).run(work), opts);
    },
    /**
     * A group of tasks in one call; each report goes to `onReport` as it comes back (the organ
     * answers when the first ends, and `collect` fetches the rest). Rejects when the organ cannot
     * be reached or the group outlasts `timeoutMs`, with the reports so far already handed on.
     */
    async runGroup(replica: string, works: TaskWork[], timeoutMs: number, onReport: (report: RunReport) => void): Promise<void> {
      const end = deps.now() + timeoutMs;
      const opts: GuardOptions = { timeoutMs, what: `organ '${replica}'`, retry: { ...ORGAN_RETRY, random: deps.random, sleep: deps.sleep } };
      let reply = await guardedCall(breaker(replica), () => deps.stub(replica).runGroup(works), opts);
      for (;;) {
        reply.reports.forEach(onReport);
        if (reply.next === null) return;
        reply = await withTimeout(deps.stub(replica).collect(reply.next), Math.max(0, end - deps.now()), `organ '${replica}'`);
      }
    },
    /** Best effort: a run not aborted still has its outcome dropped by the fenced write. */
    async abort(replica: string, taskIds: string[]): Promise<void> {
      await deps.stub(replica).abort(taskIds).catch((err: unknown) => console.warn(`abort on organ '${replica}' failed`, err));
    },
  };
}

export type OrganClient = ReturnType<typeof organClient>;
