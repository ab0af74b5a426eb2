/**
 * A circuit breaker (closed → open → half-open → closed), pure apart from the injected clock.
 *
 * - closed: calls go through; `failureThreshold` consecutive failures open the circuit.
 * - open: calls are rejected at once until `recoveryMs` has passed since it opened.
 * - half-open: exactly one probe goes through; its success closes the circuit, its failure
 *   reopens it for another `recoveryMs`. Other calls are rejected while the probe runs.
 *
 * Callers either use `call(fn)`, or take a permit with `acquire()` and settle it themselves
 * (the dispatcher does, so it can ask before claiming tasks and give the permit back unused).
 */

export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerOptions {
  failureThreshold: number;
  recoveryMs: number;
  now: () => number;
}

export interface BreakerSnapshot {
  state: BreakerState;
  /** Consecutive failures (reset by a success). */
  failure_count: number;
  /** Calls let through (successful + failed; rejected ones are not calls). */
  total_calls: number;
  successful_calls: number;
  failed_calls: number;
  /** Times the circuit went to open (a failed probe counts again). */
  circuit_opens: number;
  /** Calls refused without reaching the callee. */
  rejected_calls: number;
  /** ms until a probe may go through; 0 when closed. */
  retry_after_ms: number;
}

/** One admitted call. Settle it exactly once; later settles are ignored. */
export interface BreakerPermit {
  succeed(): void;
  fail(): void;
  /** The call was not made after all: give the slot back without counting anything. */
  release(): void;
}

/** Thrown by `call` (and by clients) when the circuit refuses a call. */
export class CircuitOpenError extends Error {
  readonly circuitOpen = true;
  constructor(
    readonly target: string,
    readonly retryAfterMs: number,
  ) {
    super(`circuit for ${target} is open; retry in ${Math.ceil(retryAfterMs / 1000)}s`);
    this.name = "CircuitOpenError";
  }
}

export class CircuitBreaker {
  private openState: "closed" | "open" = "closed";
  private openedAt = 0;
  private probeInFlight = false;
  private probeStartedAt = 0;
  private consecutiveFailures = 0;
  private counts = { total: 0, ok: 0, failed: 0, opens: 0, rejected: 0 };

  constructor(
    readonly name: string,
    private readonly opts: BreakerOptions,
  ) {}

  get state(): BreakerState {
    if (this.openState === "closed") return "closed";
    return this.opts.now() - this.openedAt >= this.opts.recoveryMs ? "half_open" : "open";
  }

  /** ms until a call may be admitted (0: it would be admitted now). */
  retryAfterMs(): number {
    const state = this.state;
    if (state === "closed") return 0;
    if (state === "open") return this.openedAt + this.opts.recoveryMs - this.opts.now();
    // Half-open with the probe out: come back soon, the probe decides.
    return this.probeBlocking() ? Math.min(this.opts.recoveryMs, PROBE_WAIT_MS) : 0;
  }

  /** A permit for one call, or null (counted as rejected) when the circuit refuses it. */
  acquire(): BreakerPermit | null {
    const state = this.state;
    if (state === "open" || (state === "half_open" && this.probeBlocking())) {
      this.counts.rejected++;
      return null;
    }
    const probe = state === "half_open";
    if (probe) {
      this.probeInFlight = true;
      this.probeStartedAt = this.opts.now();
    }
    let settled = false;
    const settle = (fn: () => void) => () => {
      if (settled) return;
      settled = true;
      if (probe) this.probeInFlight = false;
      fn();
    };
    return {
      succeed: settle(() => this.recordSuccess(probe)),
      fail: settle(() => this.recordFailure(probe)),
      release: settle(() => undefined),
    };
  }

  /** Runs `fn` under a permit; any rejection of `fn` counts as a failure. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    const permit = this.acquire();
    if (!permit) throw new CircuitOpenError(this.name, this.retryAfterMs());
    try {
      const value = await fn();
      permit.succeed();
      return value;
    } catch (err) {
      permit.fail();
      throw err;
    }
  }

  snapshot(): BreakerSnapshot {
    return {
      state: this.state,
      failure_count: this.consecutiveFailures,
      total_calls: this.counts.total,
      successful_calls: this.counts.ok,
      failed_calls: this.counts.failed,
      circuit_opens: this.counts.opens,
      rejected_calls: this.counts.rejected,
      retry_after_ms: Math.max(0, this.retryAfterMs()),
    };
  }

  /** A probe that never settled (its caller vanished) must not block the circuit forever. */
  private probeBlocking(): boolean {
    return this.probeInFlight && this.opts.now() - this.probeStartedAt < this.opts.recoveryMs;
  }

  private recordSuccess(probe: boolean): void {
    this.counts.total++;
    this.counts.ok++;
    // A success that started while closed but lands after the circuit opened says nothing about
    // now: only the half-open probe may close an open circuit.
    if (probe || this.openState === "closed") {
      this.consecutiveFailures = 0;
      this.openState = "closed";
    }
  }

  private recordFailure(probe: boolean): void {
    this.counts.total++;
    this.counts.failed++;
    this.consecutiveFailures++;
    // A failure that started while closed but lands after the circuit opened changes nothing more.
    if (probe || (this.openState === "closed" && this.consecutiveFailures >= this.opts.failureThreshold)) {
      this.openState = "open";
      this.openedAt = this.opts.now();
      this.counts.opens++;
    }
  }
}

/** While a half-open probe runs, rejected callers are told to come back after this long. */
export const PROBE_WAIT_MS = 5000;
