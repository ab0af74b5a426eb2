/**
 * Deadlines of many runs on one timer: `watch` is a Map entry, not a timer of its own (a burst of
 * short tasks would otherwise set and clear a timer each). The timer is armed for the earliest
 * deadline; when it fires, every due entry expires and it is armed for the next.
 */
export class DeadlineWatch {
  private readonly entries = new Map<number, { at: number; expire: () => void }>();
  private seq = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = Infinity;

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** Calls `expire` at `at` (epoch ms) unless the returned function is called first. */
  watch(at: number, expire: () => void): () => void {
    const id = ++this.seq;
    this.entries.set(id, { at, expire });
    if (at < this.timerAt) this.arm(at);
    return () => void this.entries.delete(id);
  }

  private arm(at: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - this.now()));
  }

  private fire(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const now = this.now();
    let next = Infinity;
    for (const [id, entry] of this.entries) {
      if (entry.at <= now) {
        this.entries.delete(id);
        entry.expire();
      } else next = Math.min(next, entry.at);
    }
    if (next < Infinity) this.arm(next);
  }
}
