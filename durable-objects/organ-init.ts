import { settleWithin } from "../src/lib/timeout";
import type { OrganSpec } from "./organism-config";

/** Organ start-up must not hold callers forever: past this, init fails and is retried later. */
export const ORGAN_INIT_TIMEOUT_MS = 10_000;

/** Initialises every organ concurrently; resolves to an error message instead of throwing. */
export async function initializeOrgans(
  specs: readonly OrganSpec[],
  initialize: (spec: OrganSpec) => Promise<unknown>,
  timeoutMs = ORGAN_INIT_TIMEOUT_MS,
): Promise<string | undefined> {
  const init = await settleWithin(Promise.all(specs.map((spec) => initialize(spec))), timeoutMs, "organ initialisation");
  return init.ok ? undefined : `organ initialisation failed: ${init.error}`;
}
