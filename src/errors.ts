import type { ContentfulStatusCode } from "hono/utils/http-status";
import { CircuitOpenError } from "./lib/circuit-breaker";
import { errorMessage } from "./lib/error-message";
import { isTransient } from "./lib/retry";
import { TimeoutError } from "./lib/timeout";

/** Every error code the API can answer, with its HTTP status. */
export const ERROR_STATUS = {
  bad_request: 400,
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  ambiguous_id: 409,
  invalid_state: 409,
  idempotency_conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal_error: 500,
  unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/** The one error type routes throw; onError turns it into `{error:{code,message,details?}}`. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "AppError";
  }

  get status(): ContentfulStatusCode {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

/**
 * A Durable Object that cannot answer is the service being unavailable, not a bug: an open
 * breaker (with Retry-After), a timeout, or an error the runtime marks transient that outlived
 * the client's retries is a 503 `unavailable`.
 */
export function asUnavailable(err: unknown): { error: AppError; retryAfterS?: number } | undefined {
  if (err instanceof CircuitOpenError) {
    const retryAfterS = Math.max(1, Math.ceil(err.retryAfterMs / 1000));
    return { error: new AppError("unavailable", `${err.target} is unavailable (circuit open); retry later`, { retry_after_s: retryAfterS }), retryAfterS };
  }
  if (err instanceof TimeoutError || isTransient(err)) return { error: new AppError("unavailable", errorMessage(err)) };
  return undefined;
}
