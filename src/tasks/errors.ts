/**
 * What a task's code throws to steer its outcome (Inngest's NonRetriableError / RetryAfterError).
 * Anything else it throws is a failure retried with backoff.
 */

/** Fails the task now, without retry: running it again cannot help (bad input, a refused request). */
export class PermanentError extends Error {
  override name = "PermanentError";
}

/** Retries the task `retryAfterS` seconds from now (a rate limit's Retry-After); the attempt counts. */
export class RetryAfterError extends Error {
  override name = "RetryAfterError";
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
    if (!Number.isFinite(retryAfterS) || retryAfterS < 0) throw new RangeError(`retryAfterS must be a non-negative number of seconds, got ${retryAfterS}`);
  }
}

/**
 * The work was handed off: an http executor's endpoint answered 202 and finishes the task later
 * through the pull routes with the lease token its request carried. The task stays `running`
 * under that lease until `leaseExpiresAt` (epoch ms); heartbeats extend it, the reaper takes it back.
 */
export class HandedOffError extends Error {
  override name = "HandedOffError";
  constructor(
    message: string,
    readonly leaseExpiresAt: number,
  ) {
    super(message);
  }
}

/**
 * The task never got to do its work: a named service refused the call before it was made (its
 * circuit is open, or its rate is used up). The task retries after `retryAfterMs` and its attempt
 * is given back.
 */
export class DeferredError extends Error {
  override name = "DeferredError";
  readonly deferred = true;
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}
