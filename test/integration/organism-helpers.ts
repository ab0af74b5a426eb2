import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { CoordinatorStub } from "../../src/clients/organism-client";
import type { TaskEnvelope } from "../../src/contracts";

type RawCoordinatorStub = ReturnType<typeof env.ORGANISM_MANAGER.get>;

/**
 * A coordinator of its own per test, so OCPS state and metrics never leak between tests. Its RPC
 * methods are typed by the class's own signatures (`CoordinatorStub`, see `Remote`): the generated
 * stub types collapse results holding `Record<string, unknown>` to `never`, which type-checks
 * against anything.
 */
export function freshCoordinator(name = `test-${crypto.randomUUID()}`): Omit<RawCoordinatorStub, keyof CoordinatorStub> & CoordinatorStub {
  return env.ORGANISM_MANAGER.get(env.ORGANISM_MANAGER.idFromName(name)) as unknown as Omit<RawCoordinatorStub, keyof CoordinatorStub> & CoordinatorStub;
}

/** The same object's plain stub, for runInDurableObject and evict. */
export function objectStub(stub: ReturnType<typeof freshCoordinator>): RawCoordinatorStub {
  return stub as unknown as RawCoordinatorStub;
}

/**
 * Evicts a Durable Object as a restart would: `state.abort()` drops the instance and its memory,
 * and the next call on a new stub constructs it again from storage. (This pool version has no
 * evictDurableObject.)
 */
export async function evict(stub: object): Promise<void> {
  await runInDurableObject(stub as DurableObjectStub<Rpc.DurableObjectBranded | undefined>, (_instance: unknown, state) => state.abort("evicted by test")).catch(() => undefined);
}

export function task(type: string, over: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return { id: crypto.randomUUID(), type, params: {}, description: null, domain: null, drift_score: 0, attempt: 1, ...over };
}

/** Narrows an outcome's result to a plain record for assertions. */
export function resultOf(outcome: { result?: Record<string, unknown> }): Record<string, unknown> {
  if (!outcome.result) throw new Error("outcome has no result");
  return outcome.result;
}
