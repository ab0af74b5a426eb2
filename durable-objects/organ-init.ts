import type { OrganSpec } from "./organism-config";

/** Organ start-up must not hold callers forever: past this, init fails and is retried later. */
export const ORGAN_INIT_TIMEOUT_MS = 10_000;

/** Initialises every organ concurrently; resolves to an error message instead of throwing. */
export async function initializeOrgans(
  specs: readonly OrganSpec[],
  initialize: (spec: OrganSpec) => Promise<unknown>,
  timeoutMs = ORGAN_INIT_TIMEOUT_MS,
): Promise<string | undefined> {
  let timer: number | null = null;
  try {
    await Promise.race([
      Promise.all(specs.map((spec) => initialize(spec))),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`organs did not initialise within ${timeoutMs} ms`)), timeoutMs))),
    ]);
    return undefined;
  } catch (err) {
    return `organ initialisation failed: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    clearTimeout(timer);
  }
}
