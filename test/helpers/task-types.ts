import { z } from "zod";
import { defineTask } from "../../src/tasks/define-task";
import { registerTasks } from "../../src/tasks/registry";

/**
 * Defines `type` in this isolate (any params, returns null), so tests that want a type of their
 * own (flow control per type, list filters) can submit it: undefined types are refused at submission.
 */
export function definedType(type: string): string {
  registerTasks([defineTask({ type, description: "a test's own type", params: z.looseObject({}), run: () => null })]);
  return type;
}

/**
 * A dependent's code sees its parents through ctx.task.parents (no longer merged into params). This
 * test type returns what its code saw: its params and ctx.task.parents.
 * (The built-in test_task echoes only params, description and type.)
 */
const parentsEcho = defineTask({
  type: "test.echo_parents",
  description: "a test's own type: returns its params and ctx.task.parents",
  params: z.looseObject({}),
  run: (params, ctx) => ({ echo: params, parents: ctx.task.parents }),
});

/** Defines test.echo_parents in this isolate; its type. */
export function echoParentsType(): string {
  registerTasks([parentsEcho]);
  return parentsEcho.type;
}
