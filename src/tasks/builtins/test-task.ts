import { z } from "zod";
import { defineTask, type TaskContext } from "../define-task";

const params = z.looseObject({});

/** Echo: what went in comes back (a dependent's parents too), so end-to-end tests can check the round trip. */
const echo = (p: z.output<typeof params>, ctx: TaskContext) => ({
  echo: p,
  description: ctx.task.description,
  task_type: ctx.task.type,
  ...(ctx.task.parents ? { parents: ctx.task.parents } : {}),
});

export const testTask = defineTask({
  type: "test_task",
  opens_connections: false,
  description: "Echoes its params, description, type and a dependent's parents",
  params,
  run: echo,
});

/** The same task under its short name. */
export const test = defineTask({
  type: "test",
  opens_connections: false,
  description: "Echoes its params, description and type (alias of test_task)",
  params,
  run: echo,
});
