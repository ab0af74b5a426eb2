/** Stored times are epoch ms; JSON shows ISO-8601 UTC. */
export function toIso(ms: number | null | undefined): string | null {
  return ms == null ? null : new Date(ms).toISOString();
}
