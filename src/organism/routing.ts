import { pFast, previewOcps, type OcpsState } from "./ocps";
import type { OrganismConfig } from "./organism-config";

/** Task type (and optionally domain) → organ id. Keys are lowercased and trimmed. */
export interface RoutingTable {
  byType: Record<string, string>;
  byTypeDomain: Record<string, string>;
}

const norm = (s: string) => s.trim().toLowerCase();
const pairKey = (type: string, domain: string) => `${norm(type)}\u0000${norm(domain)}`;

/** What routing needs of a task definition. */
export interface RoutedDefinition {
  type: string;
  organ?: string | undefined;
}

/**
 * Where each type runs, most specific first: an explicit route of ORGANISM_CONFIG; an organ whose
 * task_types list the type (first owner wins); the organ the type's definition names (if the
 * organism has it); else, for any other defined type, the first organ. A type nothing defines and
 * nothing routes has no route.
 */
export function buildRoutingTable(config: OrganismConfig, definitions: readonly RoutedDefinition[] = []): RoutingTable {
  const table: RoutingTable = { byType: {}, byTypeDomain: {} };
  for (const organ of config.organs) {
    for (const type of organ.task_types) table.byType[norm(type)] ??= organ.organ_id;
  }
  const organs = new Set(config.organs.map((o) => o.organ_id));
  const first = config.organs[0]?.organ_id;
  for (const def of definitions) {
    if (def.organ !== undefined && !organs.has(def.organ)) continue;
    const organ = def.organ ?? first;
    if (organ !== undefined) table.byType[norm(def.type)] ??= organ;
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
