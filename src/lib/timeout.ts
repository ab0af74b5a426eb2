import { errorMessage } from "./error-message";

/** A call that did not answer in time. Not transient: the callee may still be working on it. */
export class TimeoutError extends Error {
  readonly timedOut = true;
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms / 1000}s`);
    this.name = "TimeoutError";
  }
}

/** Rejects with a TimeoutError when `work` has not settled within `ms`. */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: number | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: string };

/** `work` within `ms`, as a value that never throws: an error or a timeout becomes `{ ok: false, error }`. */
export async function settleWithin<T>(work: Promise<T>, ms: number, what: string): Promise<Settled<T>> {
  try {
    return { ok: true, value: await withTimeout(work, ms, what) };
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  }
}
