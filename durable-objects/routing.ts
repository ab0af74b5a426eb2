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
