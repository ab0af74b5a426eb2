/**
 * Bounds the tasks the coordinator runs at once (ORGANISM_MAX_INFLIGHT_TASKS). Work past the bound
 * is refused at once with a "not run" outcome instead of piling up inside the object: the
 * dispatcher puts the task back in `retry` after one backoff step and gives back the attempt its
 * claim took, so shedding alone never exhausts a task's attempts.
 * In memory only: in-flight work does not survive an object restart either.
 */
export interface LoadSnapshot {
  inflight_tasks: number;
  max_inflight_tasks: number;
  peak_inflight_tasks: number;
  /** Tasks refused with "overloaded" since this object started. */
  shed_total: number;
}

export class LoadShedder {
  private inflight = 0;
  private peak = 0;
  private shed = 0;

  /** Admits up to the free capacity; the caller sheds `requested − admitted` and releases what it admitted. */
  admit(requested: number, max: number): number {
    const admitted = Math.max(0, Math.min(requested, max - this.inflight));
    this.inflight += admitted;
    this.shed += requested - admitted;
    this.peak = Math.max(this.peak, this.inflight);
    return admitted;
  }

  release(n: number): void {
    this.inflight = Math.max(0, this.inflight - n);
  }

  snapshot(max: number): LoadSnapshot {
    return { inflight_tasks: this.inflight, max_inflight_tasks: max, peak_inflight_tasks: this.peak, shed_total: this.shed };
  }
}

export const overloadedError = (inflight: number, max: number) =>
  `overloaded: coordinator has ${inflight} tasks in flight (ORGANISM_MAX_INFLIGHT_TASKS=${max}); retry later`;
