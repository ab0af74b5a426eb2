import type { OrganType } from "./organism-config";

/** Role probabilities: E(mployed), S(cout), O(nlooker), as in SeedCore. */
export interface RoleProbs {
  E: number;
  S: number;
  O: number;
}

export const ROLE_PROBS: Readonly<Record<OrganType, RoleProbs>> = {
  Cognitive: { E: 0.3, S: 0.6, O: 0.1 },
  Actuator: { E: 0.7, S: 0.2, O: 0.1 },
  Utility: { E: 0.2, S: 0.3, O: 0.5 },
};

export const INITIAL_CAPABILITY = 0.5;
export const QUALITY_WINDOW = 20;
export const TASK_HISTORY = 100;

export interface ScoredAgent {
  agent_id: string;
  capability: number;
  mem_util: number;
  role_probs: RoleProbs;
}

/** Shannon entropy (natural log) of the role distribution: more versatile agents score better. */
export function roleEntropy(p: RoleProbs): number {
  return [p.E, p.S, p.O].reduce((h, x) => (x > 0 ? h - x * Math.log(x) : h), 0);
}

/** Lower is better: `(1−c) − 0.2·H(p) + 0.09·mem_util`. */
export function agentScore(a: ScoredAgent): number {
  return 1 - a.capability - 0.2 * roleEntropy(a.role_probs) + 0.09 * a.mem_util;
}

/** The agent with the lowest score; ties go to the earlier agent so the choice is deterministic. */
export function pickBestAgent<T extends ScoredAgent>(agents: readonly T[]): T | undefined {
  let best: T | undefined;
  let bestScore = Infinity;
  for (const agent of agents) {
    const score = agentScore(agent);
    if (score < bestScore) {
      best = agent;
      bestScore = score;
    }
  }
  return best;
}

/** `c = 0.9c + 0.1(0.6·success + 0.4·quality)`, quality clamped to [0, 1]. */
export function updateCapability(c: number, success: boolean, quality: number): number {
  const q = Math.min(1, Math.max(0, Number.isFinite(quality) ? quality : 0));
  return 0.9 * c + 0.1 * (0.6 * (success ? 1 : 0) + 0.4 * q);
}

/** Memory utilisation as the share of the task-history window in use (0..1). */
export function memUtil(historySize: number): number {
  return Math.min(1, historySize / TASK_HISTORY);
}
