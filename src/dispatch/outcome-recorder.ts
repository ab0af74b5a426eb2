import type { TaskOutcome } from "../organism/task-contracts";

/** The first outcomes of a pass wait this long for company before they are written. */
export const FIRST_FLUSH_MS = 50;

/**
 * The most writes a pass's outcomes take when its tasks run up to `maxRunMs`: writes happen at
 * FIRST_FLUSH_MS × 2^k after the pass started, so a pass that runs T has at most
 * log2(T / FIRST_FLUSH_MS) + 1 of them before its end, plus the last; never more than it has tasks.
 */
export function outcomeFlushes(maxTasks: number, maxRunMs: number): number {
  const timed = maxRunMs < FIRST_FLUSH_MS ? 0 : Math.floor(Math.log2(maxRunMs / FIRST_FLUSH_MS)) + 1;
  return Math.max(1, Math.min(maxTasks, timed + 1));
}

export const SYSTEM_TIMERS: RecorderTimers = { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as number) };

export interface RecorderTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Group commit for a pass's outcomes: each outcome is written soon after its task ends, together
 * with the others that ended meanwhile, so a slow task holds back no fast one and a burst of fast
 * ones is one write. Writes happen at FIRST_FLUSH_MS × 2^k after the pass started (a task that
 * ends at t is written by 2t, and at least FIRST_FLUSH_MS later), which bounds the writes a pass
 * can make (outcomeFlushes); past `maxFlushes` - 1 writes the rest waits for `close`. Writes never
 * overlap, so they land in order.
 */
export class OutcomeRecorder {
  private pending: TaskOutcome[] = [];
  private timer: unknown = null;
  private writing: Promise<void> = Promise.resolve();
  private flushes = 0;
  private failure: unknown;
  private readonly started: number;

  constructor(
    private readonly write: (outcomes: TaskOutcome[]) => Promise<void>,
    private readonly maxFlushes: number,
    private readonly timers: RecorderTimers = SYSTEM_TIMERS,
  ) {
    this.started = timers.now();
  }

  /** `last`: no other task of the pass is still running, so waiting for company gains nothing. */
  add(outcome: TaskOutcome, last = false): void {
    this.pending.push(outcome);
    if (last) {
      if (this.timer !== null) this.timers.clearTimeout(this.timer);
      return this.flush();
    }
    // The last write is close()'s.
    if (this.timer !== null || this.flushes >= this.maxFlushes - 1) return;
    const elapsed = this.timers.now() - this.started;
    let boundary = FIRST_FLUSH_MS;
    while (boundary <= elapsed) boundary *= 2;
    this.timer = this.timers.setTimeout(() => this.flush(), boundary - elapsed);
  }

  /** Writes what is left and waits for every write; rethrows the first write that failed. */
  async close(): Promise<void> {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.flush();
    await this.writing;
    if (this.failure !== undefined) throw this.failure;
  }

  private flush(): void {
    this.timer = null;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.flushes++;
    this.writing = this.writing.then(() => this.write(batch)).catch((err: unknown) => void (this.failure ??= err));
  }
}
