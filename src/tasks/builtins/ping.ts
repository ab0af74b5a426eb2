import { z } from "zod";
import { defineTask } from "../define-task";

export const ping = defineTask({
  type: "ping",
  opens_connections: false,
  description: "Answers pong with the time",
  params: z.looseObject({}),
  run: (_params, ctx) => ({ pong: true, at: new Date(ctx.now()).toISOString() }),
});
