import type { CoordinatorSnapshot } from "../clients/coordinator-snapshot";
import type { ResilienceSnapshot } from "../clients/resilience";
import { TASK_STATUSES } from "../db/schema";
import { COUNTER, type CounterName } from "../store/metric-counters";
import type { DurationHistogram, MetricsSnapshot, TransitionCount } from "../store/metrics-queries";
import type { BreakerState } from "./circuit-breaker";
import type { HistogramValue, MetricFamily } from "./prometheus";

/** The named counters, each a filter over the transition rollups. */
const COUNTERS: { name: string; help: string; matches: (t: TransitionCount) => boolean }[] = [
  { name: "submitted", help: "Tasks accepted (first event of a task).", matches: (t) => t.from_status === null },
  { name: "claimed", help: "Claims by the dispatcher (one per attempt started).", matches: (t) => t.actor === "dispatcher" && t.to_status === "running" },
  { name: "completed", help: "Transitions to completed.", matches: (t) => t.to_status === "completed" },
  { name: "failed", help: "Transitions to failed (by the dispatcher or the reaper).", matches: (t) => t.to_status === "failed" },
  { name: "retried", help: "Transitions to retry (by the dispatcher or the reaper).", matches: (t) => t.to_status === "retry" },
  // The alarm also moves dependents (its rounds, the backstop) as "reaper": only running tasks were reaped.
  { name: "reaped", help: "Running tasks whose lease expired, moved on by the reaper.", matches: (t) => t.actor === "reaper" && t.from_status === "running" },
  { name: "cancelled", help: "Transitions to cancelled.", matches: (t) => t.to_status === "cancelled" },
  { name: "pruned", help: "Finished tasks deleted by retention (RETAIN_*_S).", matches: (t) => t.actor === "retention" && t.to_status === "deleted" },
  { name: "purged", help: "Finished tasks deleted by POST /tasks/bulk/purge.", matches: (t) => t.actor === "api" && t.to_status === "deleted" },
];

/** The counters that are not transitions (src/store/metric-counters.ts), as metric families. */
const NAMED_COUNTERS: { name: CounterName; help: string }[] = [
  { name: COUNTER.wakeupsDeadLettered, help: "Wake-up messages that reached the dead-letter queue (no task is failed by it; a fresh wake-up replaces them)." },
  { name: COUNTER.webhooksDeadLettered, help: "Completion webhooks that failed every try and reached the webhook DLQ (the task itself is unaffected)." },
  { name: COUNTER.scheduleTasksFired, help: "Tasks created by cron schedules' slots (a slot another pass already fired is not counted twice)." },
  {
    name: COUNTER.scheduleSlotsSkipped,
    help: "Cron slots missed (older than SCHEDULE_GRACE_S when the alarm came) and not fired, by their schedule's missed policy.",
  },
  {
    name: COUNTER.dependentsRescued,
    help: "Dependents waiting on parents that had all finished, released (or failed or cancelled by policy) by the maintenance alarm's backstop: each one means a dependency round missed it, a bug.",
  },
];

function durationHistogram(h: DurationHistogram): HistogramValue {
  return {
    buckets: h.boundsMs.map((ms, i) => ({ le: ms / 1000, count: h.cumulative[i] ?? 0 })),
    sum: h.sumMs / 1000,
    count: h.count,
  };
}

function d1Families(s: MetricsSnapshot): MetricFamily[] {
  const byStatus = new Map(s.byStatus.map((r) => [r.status, r.n]));
  return [
    {
      name: "seedcore_tasks",
      help: "Tasks by current status: the net of the transitions into and out of it (rollups).",
      type: "gauge",
      samples: TASK_STATUSES.map((status) => ({ labels: { status }, value: byStatus.get(status) ?? 0 })),
    },
    ...COUNTERS.map((c): MetricFamily => ({
      name: `seedcore_tasks_${c.name}_total`,
      help: `${c.help} Counted in the same transaction as the change, so exact across crashes.`,
      type: "counter",
      samples: [{ value: s.transitions.filter(c.matches).reduce((n, t) => n + t.n, 0) }],
    })),
    ...NAMED_COUNTERS.map((c): MetricFamily => ({
      name: `seedcore_${c.name}_total`,
      help: c.help,
      type: "counter",
      samples: [{ value: s.counters[c.name] ?? 0 }],
    })),
    {
      name: "seedcore_task_transitions_total",
      help: "Every state change, by actor and statuses (from=\"\" is submission, to=\"deleted\" is retention or purge).",
      type: "counter",
      samples: s.transitions.map((t) => ({ labels: { actor: t.actor, from: t.from_status ?? "", to: t.to_status }, value: t.n })),
    },
    {
      name: "seedcore_task_queue_wait_seconds",
      help: "Time from creation to the first claim of a series of attempts.",
      type: "histogram",
      histograms: [durationHistogram(s.queueWait)],
    },
    {
      name: "seedcore_task_run_seconds",
      help: "Time from a claim to the end of that attempt (completed, failed, retry, reaped or cancelled).",
      type: "histogram",
      histograms: [durationHistogram(s.runTime)],
    },
    ...(s.dbSizeBytes === null
      ? []
      : [{ name: "seedcore_d1_size_bytes", help: "Size of the D1 database, as D1 reports it.", type: "gauge" as const, samples: [{ value: s.dbSizeBytes }] }]),
  ];
}

function coordinatorFamilies(c: CoordinatorSnapshot): MetricFamily[] {
  const agents = c.organs.flatMap((o) => o.agents.map((a) => ({ organ: o, agent: a })));
  return [
    { name: "seedcore_p_fast", help: "Share of routed tasks that took the fast path (OCPS valve).", type: "gauge", samples: [{ value: c.p_fast }] },
    { name: "seedcore_coordinator_tasks_total", help: "Tasks the coordinator finished (fast path, escalated or unrouted).", type: "counter", samples: [{ value: c.tasks_total }] },
    { name: "seedcore_fast_path_total", help: "Tasks run on the fast path.", type: "counter", samples: [{ value: c.fast_path }] },
    { name: "seedcore_escalations_total", help: "Tasks escalated to a planned multi-step run.", type: "counter", samples: [{ value: c.escalations }] },
    { name: "seedcore_fast_path_slo_misses_total", help: "Fast-path runs slower than FAST_PATH_LATENCY_SLO_MS.", type: "counter", samples: [{ value: c.slo_misses }] },
    { name: "seedcore_organs", help: "Organs in the organism.", type: "gauge", samples: [{ value: c.organs.length }] },
    { name: "seedcore_agents", help: "Agents across all organs.", type: "gauge", samples: [{ value: agents.length }] },
    {
      name: "seedcore_organ_agents",
      help: "Agents per organ.",
      type: "gauge",
      samples: c.organs.map((o) => ({ labels: { organ: o.organ_id, organ_type: o.organ_type }, value: o.agents.length })),
    },
    {
      name: "seedcore_organ_tasks_processed_total",
      help: "Tasks processed by each organ's agents.",
      type: "counter",
      samples: c.organs.map((o) => ({ labels: { organ: o.organ_id }, value: o.tasks_processed })),
    },
    {
      name: "seedcore_organ_replicas",
      help: "Organ Durable Objects (replicas) per organ.",
      type: "gauge",
      samples: c.organs.map((o) => ({ labels: { organ: o.organ_id }, value: o.replicas.length })),
    },
    {
      name: "seedcore_organ_replica_tasks_processed_total",
      help: "Tasks processed by each replica's agents.",
      type: "counter",
      samples: c.organs.flatMap((o) => o.replicas.map((r) => ({ labels: { organ: o.organ_id, replica: String(r.replica) }, value: r.tasks_processed }))),
    },
    {
      name: "seedcore_agent_capability",
      help: "Agent capability c in [0, 1].",
      type: "gauge",
      samples: agents.map(({ organ, agent }) => ({ labels: { organ: organ.organ_id, agent: agent.agent_id }, value: agent.capability })),
    },
  ];
}

/** A breaker's state as a gauge value: higher is worse, so `max` over isolates reads naturally. */
const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/**
 * Breakers, load shedding and 429s, from `resilienceSnapshot`. All of it is in memory, so each
 * number belongs to one isolate and restarts at 0 with it; the HELP texts say so.
 */
function resilienceFamilies(r: ResilienceSnapshot): MetricFamily[] {
  // One family for both: `coordinator` is a Worker isolate's breaker, `organ:<id>` the coordinator's, so targets never clash.
  const breakers = Object.entries(r.breakers);
  const breakerScope =
    "Per isolate: `coordinator` is the breaker of the Worker isolate that served this scrape, `organ:<id>` the coordinator's own; a target appears once it was first called.";
  const shed: MetricFamily[] = r.coordinator_load
    ? [{
        name: "seedcore_coordinator_load_shed_total",
        help: "Tasks the coordinator refused as overloaded (over ORGANISM_MAX_INFLIGHT_TASKS). Per isolate: since the coordinator object started.",
        type: "counter",
        samples: [{ value: r.coordinator_load.shed_total }],
      }]
    : [];
  const services = Object.entries(r.services);
  const serviceScope =
    "Summed over the isolate that served this scrape and every organ replica's isolate that answered it (each isolate once; tasks' calls count in the isolate of the organ that ran them, the cognitive planner's in the dispatcher's). An isolate that restarts starts again at 0.";
  const serviceCounter = (name: string, help: string, pick: (s: (typeof services)[number][1]) => number): MetricFamily => ({
    name,
    help: `${help} ${serviceScope}`,
    type: "counter",
    samples: services.map(([service, s]) => ({ labels: { service }, value: pick(s) })),
  });
  const serviceFamilies: MetricFamily[] = [
    {
      name: "seedcore_service_breaker_state",
      help: `Named service clients' circuit breaker state, the worst over the isolates: 0 closed, 1 half-open, 2 open. ${serviceScope}`,
      type: "gauge",
      samples: services.map(([service, s]) => ({ labels: { service }, value: BREAKER_STATE_VALUE[s.breaker.state] })),
    },
    {
      name: "seedcore_service_breakers",
      help: `Isolates whose circuit breaker for a named service is in each state. ${serviceScope}`,
      type: "gauge",
      samples: services.flatMap(([service, s]) => (Object.keys(BREAKER_STATE_VALUE) as BreakerState[]).map((state) => ({ labels: { service, state }, value: s.breakers[state] }))),
    },
    {
      name: "seedcore_service_stats_organs",
      help: "Organ replicas asked for their isolate's named service numbers by this scrape, by outcome (missing: slow, down or not reached within the scrape's budget; their numbers are absent).",
      type: "gauge",
      samples: [
        { labels: { outcome: "answered" }, value: r.service_sources.organs_answered },
        { labels: { outcome: "missing" }, value: r.service_sources.organs_missing },
      ],
    },
    {
      name: "seedcore_service_stats_isolates",
      help: "Distinct isolates whose named service numbers this scrape summed.",
      type: "gauge",
      samples: [{ value: r.service_sources.isolates }],
    },
    serviceCounter("seedcore_service_requests_total", "Requests sent by named service clients (each retry counts).", (s) => s.requests),
    serviceCounter("seedcore_service_ok_total", "Requests answered with a status that is not a failure (2xx-4xx but 429).", (s) => s.ok),
    serviceCounter("seedcore_service_failures_total", "Requests that failed (429, 5xx, timeout, unreachable).", (s) => s.failed),
    serviceCounter("seedcore_service_retries_total", "Requests retried by named service clients.", (s) => s.retries),
    serviceCounter("seedcore_service_timeouts_total", "Requests that timed out.", (s) => s.timeouts),
    {
      name: "seedcore_service_deferred_total",
      help: `Calls refused before sending (the task deferred, its attempt given back), by reason: breaker (circuit open) or rate. ${serviceScope}`,
      type: "counter",
      samples: services.flatMap(([service, s]) => [
        { labels: { service, reason: "breaker" }, value: s.deferred_breaker },
        { labels: { service, reason: "rate" }, value: s.deferred_rate },
      ]),
    },
    {
      name: "seedcore_cognitive_plans_total",
      help: "Escalation plans the cognitive planner (COGNITIVE_URL or the Workers AI binding) made. Per isolate: the isolate that served this scrape.",
      type: "counter",
      samples: [{ value: r.cognitive.llm_plans }],
    },
    {
      name: "seedcore_cognitive_fallbacks_total",
      help: "Escalations planned by the deterministic planner because the cognitive planner failed, by reason. Per isolate: the isolate that served this scrape.",
      type: "counter",
      samples: Object.entries(r.cognitive.fallbacks).map(([reason, value]) => ({ labels: { reason }, value })),
    },
  ];
  return [
    ...serviceFamilies,
    {
      name: "seedcore_circuit_breaker_state",
      help: `Circuit breaker state by target: 0 closed, 1 half-open, 2 open. ${breakerScope}`,
      type: "gauge",
      samples: breakers.map(([target, b]) => ({ labels: { target }, value: BREAKER_STATE_VALUE[b.state] })),
    },
    {
      name: "seedcore_circuit_breaker_opens_total",
      help: `Times each circuit breaker opened (a failed half-open probe counts again). ${breakerScope}`,
      type: "counter",
      samples: breakers.map(([target, b]) => ({ labels: { target }, value: b.circuit_opens })),
    },
    ...shed,
    {
      name: "seedcore_rate_limited_total",
      help: "Requests answered 429, by limiter: api (API_RATE_LIMITER) or auth_failure (an address with too many failed tokens). Per isolate: the Worker isolate that served this scrape, since it started.",
      type: "counter",
      samples: [
        { labels: { limiter: "api" }, value: r.rate_limit.limited_total },
        { labels: { limiter: "auth_failure" }, value: r.auth_failures.limited_total },
      ],
    },
  ];
}

/** Every family /metrics serves; the coordinator's only when it answered. */
export function buildMetricFamilies(d1: MetricsSnapshot, coordinator: CoordinatorSnapshot | null, resilience: ResilienceSnapshot): MetricFamily[] {
  const up: MetricFamily = {
    name: "seedcore_coordinator_up",
    help: "1 when the coordinator answered this scrape; its metrics are omitted otherwise.",
    type: "gauge",
    samples: [{ value: coordinator ? 1 : 0 }],
  };
  return [...d1Families(d1), up, ...(coordinator ? coordinatorFamilies(coordinator) : []), ...resilienceFamilies(resilience)];
}
