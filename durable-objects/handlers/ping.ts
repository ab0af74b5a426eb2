import type { Handler } from "./types";

export const ping: Handler = (_task, clock) => ({
  success: true,
  result: { pong: true, at: new Date(clock.now()).toISOString() },
});
