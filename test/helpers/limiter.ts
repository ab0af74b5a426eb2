import type { Limiter } from "../../src/lib/rate-limit";

/** A fixed-window limiter on an injected clock, to show the window ending without waiting for it. */
export function windowLimiter(limit: number, periodMs: number, now: () => number): Limiter {
  const windows = new Map<string, { start: number; count: number }>();
  return {
    limit: async ({ key }) => {
      const w = windows.get(key);
      if (!w || now() - w.start >= periodMs) {
        windows.set(key, { start: now(), count: 1 });
        return { success: true };
      }
      w.count++;
      return { success: w.count <= limit };
    },
  };
}
