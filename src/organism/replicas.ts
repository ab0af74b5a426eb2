/**
 * Organ replicas: replica `r` of an organ is its own Organ Durable Object holding the agents
 * `i` with `i mod replicas = r`; a task goes to replica `hash(task id) mod replicas`.
 */

/** FNV-1a, 32 bits: cheap, stable across isolates and releases, and even enough for UUIDs. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function replicaOf(key: string, replicas: number): number {
  return replicas <= 1 ? 0 : fnv1a(key) % replicas;
}

/** Replica 0 keeps the organ's own name, so an organ that had no replicas keeps its object and state. */
export function replicaName(organId: string, replica: number): string {
  return replica === 0 ? organId : `${organId}#${replica}`;
}

/** The replica that holds agent `idx`. */
export function replicaOfAgent(idx: number, replicas: number): number {
  return idx % replicas;
}

/** The agent indices replica `replica` holds. */
export function agentsOfReplica(agentCount: number, replicas: number, replica: number): number[] {
  return Array.from({ length: agentCount }, (_, i) => i).filter((i) => replicaOfAgent(i, replicas) === replica);
}
