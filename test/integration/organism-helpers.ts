import { env } from "cloudflare:workers";
import type { TaskEnvelope } from "../../src/contracts";

/** A coordinator of its own per test, so OCPS state and metrics never leak between tests. */
export function freshCoordinator() {
  return env.ORGANISM_MANAGER.get(env.ORGANISM_MANAGER.idFromName(`test-${crypto.randomUUID()}`));
}

export function task(type: string, over: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return { id: crypto.randomUUID(), type, params: {}, description: null, domain: null, drift_score: 0, attempt: 1, ...over };
}

/** Narrows an outcome's result to a plain record for assertions. */
export function resultOf(outcome: { result?: Record<string, unknown> }): Record<string, unknown> {
  if (!outcome.result) throw new Error("outcome has no result");
  return outcome.result;
}
