/**
 * The limit a task's key gets when the submission names none: the configured limit of the longest
 * prefix of the key in CONCURRENCY_LIMITS, else 1.
 */
export function defaultConcurrencyLimit(key: string, limits: Record<string, number>): number {
  let best: string | null = null;
  for (const prefix of Object.keys(limits)) {
    if (key.startsWith(prefix) && (best === null || prefix.length > best.length)) best = prefix;
  }
  return best === null ? 1 : (limits[best] ?? 1);
}
