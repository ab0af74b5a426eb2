/**
 * Bounds the tasks in flight through the coordinator's decisions (ORGANISM_MAX_INFLIGHT_TASKS):
 * a pass's tasks count from its `decide` until its `report`. Past the bound the coordinator
 * answers "shed" at once instead of letting work pile up on the organs; the dispatcher puts such
 * a task back in `retry` after one backoff step with its attempt given back.
 * A pass that never reports (its dispatcher died) stops counting after `ttlMs`. In memory only.
 */
export interface LoadSnapshot {
  inflight_tasks: number;
  max_inflight_tasks: number;
  peak_inflight_tasks: number;
  /** Tasks refused with "overloaded" since this object started. */
  shed_total: number;
}

export class LoadShedder {
  private readonly passes = new Map<string, { n: number; escalations: number; at: number }>();
  private inflight = 0;
  private peak = 0;
  private shed = 0;

  constructor(private readonly ttlMs: number) {}

  /** Admits up to the free capacity for `pass`; the caller sheds `requested − admitted`. */
  admit(pass: string, requested: number, max: number, now: number): number {
    this.expire(now);
    const admitted = Math.max(0, Math.min(requested, max - this.inflight));
    if (admitted > 0) {
      const entry = this.passes.get(pass) ?? { n: 0, escalations: 0, at: now };
      this.passes.set(pass, { ...entry, n: entry.n + admitted, at: now });
      this.inflight += admitted;
    }
    this.shed += requested - admitted;
    this.peak = Math.max(this.peak, this.inflight);
    return admitted;
  }

  /** `k` of the pass's admitted tasks escalate (COGNITIVE_MAX_INFLIGHT counts them). */
  noteEscalations(pass: string, k: number): void {
    const entry = this.passes.get(pass);
    if (entry) entry.escalations += k;
  }

  /** Escalated tasks of passes that have not reported yet. */
  escalations(): number {
    let n = 0;
    for (const entry of this.passes.values()) n += entry.escalations;
    return n;
  }

  /** The pass reported: its tasks no longer count. */
  release(pass: string): void {
    const entry = this.passes.get(pass);
    if (!entry) return;
    this.passes.delete(pass);
    this.inflight -= entry.n;
  }

  snapshot(max: number): LoadSnapshot {
    return { inflight_tasks: this.inflight, max_inflight_tasks: max, peak_inflight_tasks: this.peak, shed_total: this.shed };
  }

  private expire(now: number): void {
    for (const [pass, entry] of this.passes) if (now - entry.at > this.ttlMs) this.release(pass);
  }
}

export const overloadedError = (inflight: number, max: number) =>
  `overloaded: coordinator has ${inflight} tasks in flight (ORGANISM_MAX_INFLIGHT_TASKS=${max}); retry later`;
