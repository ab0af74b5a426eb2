import { pFast, previewOcps, type OcpsState } from "./ocps";
import type { OrganismConfig } from "./organism-config";

/** Task type (and optionally domain) → organ id. Keys are lowercased and trimmed. */
export interface RoutingTable {
  byType: Record<string, string>;
  byTypeDomain: Record<string, string>;
}

const norm = (s: string) => s.trim().toLowerCase();
const pairKey = (type: string, domain: string) => `${norm(type)}\u0000${norm(domain)}`;

/** Organ task_types give the type routes (first owner wins); explicit routes override them. */
export function buildRoutingTable(config: OrganismConfig): RoutingTable {
  const table: RoutingTable = { byType: {}, byTypeDomain: {} };
  for (const organ of config.organs) {
    for (const type of organ.task_types) table.byType[norm(type)] ??= organ.organ_id;
  }
  for (const route of config.routes) {
    if (route.domain) table.byTypeDomain[pairKey(route.task_type, route.domain)] = route.organ_id;
    else table.byType[norm(route.task_type)] = route.organ_id;
  }
  return table;
}

/** `(type, domain)` first, then `type`; undefined when nothing owns the type. */
export function resolveRoute(table: RoutingTable, type: string, domain?: string | null): string | undefined {
  if (domain) {
    const hit = table.byTypeDomain[pairKey(type, domain)];
    if (hit !== undefined) return hit;
  }
  return table.byType[norm(type)];
}

export function noRouteError(type: string): string {
  return `no route for task type '${type}'`;
}

/** get_routing_debug: where a task would go and whether it would escalate, without moving S. */
export function routingDebug(table: RoutingTable, ocps: OcpsState, threshold: number, type: string, domain: string | null, drift: number): Record<string, unknown> {
  const preview = previewOcps(ocps, drift, threshold);
  return {
    task_type: type, domain, drift_score: drift, organ_id: resolveRoute(table, type, domain) ?? null,
    would_escalate: preview.escalate, S_current: ocps.S, S_preview: preview.S_raw, threshold, p_fast: pFast(ocps),
  };
}
