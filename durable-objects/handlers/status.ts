import type { Handler } from "./types";

/** Reports that the agent is ready to take work; echoes the domain it was asked about. */
export const status: Handler = (task, clock) => ({
  success: true,
  result: { status: "operational", domain: task.domain, at: new Date(clock.now()).toISOString() },
});
