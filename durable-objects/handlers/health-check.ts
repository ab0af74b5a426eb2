import type { Handler } from "./types";

/** Liveness of the agent itself: if this runs, the organ and its storage answered. */
export const healthCheck: Handler = (_task, clock) => ({
  success: true,
  result: { status: "healthy", checked_at: new Date(clock.now()).toISOString() },
});
