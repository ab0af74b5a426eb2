import type { Organ } from "../../durable-objects/organ";
import type { BreakerSnapshot, BreakerState } from "../lib/circuit-breaker";
import type { Remote } from "../lib/remote";
import { settleWithin } from "../lib/timeout";
import type { IsolateServiceStats, ServiceStats } from "../services/registry";

/**
 * Named service clients count in the isolate that runs a task's code: an Organ replica's. A
 * reader (/metrics, GET /organism/status) asks every replica for its isolate's numbers
 * (`Organ.getServiceStats`) and adds them up, each isolate once (replicas, and locally the
 * Worker too, may share one).
 *
 * Bounds: at most ORGAN_STATS_GROUP calls at once (a request may hold 6 outgoing connections;
 * the reader's coordinator call and D1 query may be open beside them), each call within
 * `callMs`, and the whole fan-out within `budgetMs`: a replica that is slow, down or not reached
 * in time is only listed as missing, its numbers absent.
 */

/** Replicas asked at once: 4, so with the coordinator call and a D1 query beside them a request stays within 6 connections. */
export const ORGAN_STATS_GROUP = 4;
/** One replica's answer, at most. */
export const ORGAN_STATS_CALL_MS = 1000;
/** The whole fan-out, at most (later groups are skipped). */
export const ORGAN_STATS_BUDGET_MS = 2000;
/** Missing replicas listed in GET /organism/status, at most (the count is always whole). */
const MISSING_LISTED = 20;

export type OrganStatsRpc = Remote<Pick<Organ, "getServiceStats">>;

export interface GatherOptions {
  callMs?: number;
  budgetMs?: number;
  group?: number;
  now?: () => number;
}

export interface OrganServiceStats {
  /** The replicas that answered, with their isolate's numbers. */
  answered: (IsolateServiceStats & { replica: string })[];
  /** The replicas whose numbers are absent, and why. */
  missing: { replica: string; error: string }[];
}

/** Every replica's isolate stats, `group` at a time, each within `callMs`, all within `budgetMs`. Never throws. */
export async function gatherOrganServiceStats(stub: (replica: string) => OrganStatsRpc, replicas: readonly string[], opts: GatherOptions = {}): Promise<OrganServiceStats> {
  const now = opts.now ?? Date.now;
  const group = Math.max(1, Math.min(6, opts.group ?? ORGAN_STATS_GROUP));
  const callMs = opts.callMs ?? ORGAN_STATS_CALL_MS;
  const end = now() + (opts.budgetMs ?? ORGAN_STATS_BUDGET_MS);
  const out: OrganServiceStats = { answered: [], missing: [] };
  for (let i = 0; i < replicas.length; i += group) {
    const batch = replicas.slice(i, i + group);
    const left = end - now();
    if (left <= 0) {
      for (const replica of replicas.slice(i)) out.missing.push({ replica, error: "not asked: the stats budget was used up" });
      break;
    }
    const settled = await Promise.all(
      // Inside an async function, so a stub that throws at once becomes a settled failure.
      batch.map((replica) => settleWithin((async () => stub(replica).getServiceStats())(), Math.min(callMs, left), `organ '${replica}'`)),
    );
    settled.forEach((r, j) => {
      const replica = batch[j] as string;
      if (r.ok && r.value && typeof r.value.isolate === "string" && r.value.services && typeof r.value.services === "object") out.answered.push({ replica, isolate: r.value.isolate, services: r.value.services });
      else out.missing.push({ replica, error: r.ok ? "unexpected answer" : r.error });
    });
  }
  return out;
}

const WORSE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/** A service's numbers over every isolate that reported it. */
export interface AggregatedServiceStats extends ServiceStats {
  /** Isolates that reported this service. */
  isolates: number;
  /** Isolates whose breaker for this service is in each state. */
  breakers: Record<BreakerState, number>;
}

export interface ServiceSources {
  /** Distinct isolates whose numbers are in `services` (this one included). */
  isolates: number;
  organs_asked: number;
  organs_answered: number;
  organs_missing: number;
  /** Up to 20 of the missing replicas, with why. */
  missing: { replica: string; error: string }[];
}

function addBreaker(a: BreakerSnapshot, b: BreakerSnapshot): BreakerSnapshot {
  // The worst isolate's state and its own figures (failure_count, retry_after_ms); call totals summed.
  const worse = WORSE[b.state] > WORSE[a.state] || (WORSE[b.state] === WORSE[a.state] && b.retry_after_ms > a.retry_after_ms) ? b : a;
  return {
    ...worse,
    total_calls: a.total_calls + b.total_calls,
    successful_calls: a.successful_calls + b.successful_calls,
    failed_calls: a.failed_calls + b.failed_calls,
    circuit_opens: a.circuit_opens + b.circuit_opens,
    rejected_calls: a.rejected_calls + b.rejected_calls,
  };
}

/**
 * Counts summed over distinct isolates (the first report of an isolate id wins: replicas sharing
 * an isolate share one registry); `breaker` is the worst isolate's state with call totals
 * summed; `breakers` counts isolates per state.
 */
export function mergeServiceStats(reports: readonly IsolateServiceStats[]): { services: Record<string, AggregatedServiceStats>; isolates: number } {
  const seen = new Set<string>();
  const services: Record<string, AggregatedServiceStats> = {};
  for (const report of reports) {
    if (seen.has(report.isolate)) continue;
    seen.add(report.isolate);
    for (const [name, s] of Object.entries(report.services)) {
      const known = services[name];
      if (!known) {
        services[name] = { ...s, breaker: { ...s.breaker }, isolates: 1, breakers: { closed: 0, half_open: 0, open: 0, [s.breaker.state]: 1 } };
        continue;
      }
      services[name] = {
        requests: known.requests + s.requests,
        ok: known.ok + s.ok,
        failed: known.failed + s.failed,
        retries: known.retries + s.retries,
        timeouts: known.timeouts + s.timeouts,
        deferred_breaker: known.deferred_breaker + s.deferred_breaker,
        deferred_rate: known.deferred_rate + s.deferred_rate,
        breaker: addBreaker(known.breaker, s.breaker),
        isolates: known.isolates + 1,
        breakers: { ...known.breakers, [s.breaker.state]: known.breakers[s.breaker.state] + 1 },
      };
    }
  }
  return { services, isolates: seen.size };
}

/** This isolate's numbers plus the organs' (see mergeServiceStats), and where they came from. */
export function combineServiceStats(local: IsolateServiceStats, organs: OrganServiceStats, asked: number): { services: Record<string, AggregatedServiceStats>; service_sources: ServiceSources } {
  const merged = mergeServiceStats([local, ...organs.answered]);
  return {
    services: merged.services,
    service_sources: {
      isolates: merged.isolates,
      organs_asked: asked,
      organs_answered: organs.answered.length,
      organs_missing: organs.missing.length,
      missing: organs.missing.slice(0, MISSING_LISTED),
    },
  };
}
