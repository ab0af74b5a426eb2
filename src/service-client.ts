import type { ErrorCode } from "./errors";
import type { Remote } from "./lib/remote";
import type { SeedCoreService } from "./service";

/**
 * For Workers that bind to SeedCoreService. Over RPC only an error's message survives (its own
 * properties are dropped), so the service puts the error code first: `not_found: no task …`.
 */
export const SERVICE_ERROR = /^([a-z_]+): /;

/** The code of an error a SeedCoreService method threw (`validation_failed`, `not_found`, …), or null. */
export function serviceErrorCode(err: unknown): ErrorCode | null {
  const match = err instanceof Error ? SERVICE_ERROR.exec(err.message) : null;
  return (match?.[1] as ErrorCode | undefined) ?? null;
}

/**
 * The binding's type. Workers' generated `Service<…>` type maps results through
 * `Rpc.Serializable`, which turns the tasks' free-form params and results into `never`; the
 * class's own signatures are the true ones.
 */
export type SeedCoreBinding = Remote<Pick<SeedCoreService, "submit" | "submitBatch" | "get" | "wait" | "cancel" | "run" | "list">>;
