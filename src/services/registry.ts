import { CircuitBreaker, type BreakerSnapshot } from "../lib/circuit-breaker";
import { PermanentError } from "../tasks/errors";
import { createServiceClient, emptyCounts, RateLimiter, resolveHeaders, type CallContext, type ServiceClient, type ServiceCounts, type ServiceState, type Transport } from "./service-client";
import type { ServiceSpec, ServiceSpecs } from "./service-spec";

/**
 * Each named service's breaker, rate and counts live in module scope, so they are **per isolate**
 * (like src/clients/breakers.ts): an isolate learns of an outage by itself, and a fresh one starts
 * closed. A service whose spec changed starts afresh.
 */
const states = new Map<string, { key: string; state: ServiceState }>();

export function serviceState(name: string, spec: ServiceSpec, now: () => number = Date.now): ServiceState {
  const key = JSON.stringify(spec);
  const known = states.get(name);
  if (known && known.key === key) return known.state;
  const state: ServiceState = {
    breaker: new CircuitBreaker(`service:${name}`, { failureThreshold: spec.breaker.failures, recoveryMs: spec.breaker.recovery_s * 1000, now }),
    limiter: RateLimiter.of(spec.rate, now()),
    counts: emptyCounts(),
  };
  states.set(name, { key, state });
  return state;
}

export interface ServiceStats extends ServiceCounts {
  breaker: BreakerSnapshot;
}

/** This isolate's services, for /metrics and GET /organism/status. */
export function serviceStats(): Record<string, ServiceStats> {
  const out: Record<string, ServiceStats> = {};
  for (const [name, { state }] of states) out[name] = { ...state.counts, breaker: state.breaker.snapshot() };
  return out;
}

let isolate: string | undefined;
/**
 * This isolate's id: made on first use (not at module load, where Workers refuse random values).
 * Several organ replicas (and the Worker) may share an isolate and so one registry: the id lets
 * a reader count each isolate's numbers once.
 */
export function isolateId(): string {
  return (isolate ??= crypto.randomUUID());
}

/** One isolate's services, as an organ replica answers `getServiceStats`. */
export interface IsolateServiceStats {
  isolate: string;
  services: Record<string, ServiceStats>;
}

export function isolateServiceStats(): IsolateServiceStats {
  return { isolate: isolateId(), services: serviceStats() };
}

/** Tests only: forget every service's state. */
export function resetServices(): void {
  states.clear();
}

let specsOverride: ServiceSpecs | null = null;
/**
 * Tests only: the SERVICES the organs use instead of the configured ones (the test's loopback
 * server has a port the config cannot know). null: the config again.
 */
export function overrideServiceSpecs(specs: ServiceSpecs | null): void {
  specsOverride = specs;
}

/** A `binding` service's transport: the binding's fetch (a service binding or any Fetcher). */
function bindingTransport(name: string, binding: string, env: Env): Transport {
  return (request) => {
    const target = (env as unknown as Record<string, unknown>)[binding] as Fetcher | undefined;
    if (!target || typeof target.fetch !== "function") throw new PermanentError(`service '${name}': binding ${binding} is not bound`);
    return target.fetch(request);
  };
}

/**
 * `ctx.services` for one run: a client per configured service, each with the run's signal and
 * deadline. Secrets for headers are read from `env` when a call is made.
 */
export function servicesFor(configured: ServiceSpecs, env: Env, call: CallContext): Record<string, ServiceClient> {
  const specs = specsOverride ?? configured;
  const out: Record<string, ServiceClient> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const base = spec.url ?? `https://${spec.binding}.service`;
    const transport: Transport = spec.binding ? bindingTransport(name, spec.binding, env) : (request) => fetch(request);
    const headers = () => resolveHeaders(name, spec.headers, env as unknown as Record<string, unknown>);
    out[name] = createServiceClient(name, spec, base, headers, transport, serviceState(name, spec, call.now), call);
  }
  return out;
}
