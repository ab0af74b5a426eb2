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
