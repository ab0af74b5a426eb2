import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { TaskEnvelope, TaskOutcome } from "../../src/contracts";

/** A coordinator of its own per test, so OCPS state and metrics never leak between tests. */
export function freshCoordinator(name = `test-${crypto.randomUUID()}`) {
  return env.ORGANISM_MANAGER.get(env.ORGANISM_MANAGER.idFromName(name));
}

/**
 * The RPC stub types `Record<string, unknown>` results as `never` (unknown is not provably
 * serialisable), so batch results are re-typed here to what the coordinator returns.
 */
export async function runBatch(stub: ReturnType<typeof freshCoordinator>, tasks: TaskEnvelope[]): Promise<TaskOutcome[]> {
  return stub.handleIncomingTasks(tasks);
}

/**
 * Evicts a Durable Object as a restart would: `state.abort()` drops the instance and its memory,
 * and the next call on a new stub constructs it again from storage. (This pool version has no
 * evictDurableObject.)
 */
export async function evict(stub: DurableObjectStub<Rpc.DurableObjectBranded | undefined>): Promise<void> {
  await runInDurableObject(stub, (_instance: unknown, state) => state.abort("evicted by test")).catch(() => undefined);
}

export function task(type: string, over: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return { id: crypto.randomUUID(), type, params: {}, description: null, domain: null, drift_score: 0, attempt: 1, ...over };
}

/** Narrows an outcome's result to a plain record for assertions. */
export function resultOf(outcome: { result?: Record<string, unknown> }): Record<string, unknown> {
  if (!outcome.result) throw new Error("outcome has no result");
  return outcome.result;
}
