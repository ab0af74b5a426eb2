import { BUILTIN_TASKS } from "./builtins";
import type { AnyTaskDefinition, TaskDefinition } from "./define-task";
import type { z } from "zod";

/**
 * The task types this Worker runs: the built-ins and the user's, registered once per isolate when
 * the module is evaluated (so routes, the dispatcher and the Durable Objects all see them).
 */
const definitions = new Map<string, AnyTaskDefinition>(BUILTIN_TASKS.map((def) => [def.type, def]));

/** Registers definitions; the same definition twice is a no-op, two different ones for one type throw. */
export function registerTasks(defs: readonly TaskDefinition<z.ZodType, unknown>[]): void {
  for (const def of defs as readonly AnyTaskDefinition[]) {
    const known = definitions.get(def.type);
    if (known && known !== def) throw new TypeError(`task type '${def.type}' is defined twice`);
    definitions.set(def.type, def);
  }
}

export function taskDefinition(type: string): AnyTaskDefinition | undefined {
  return definitions.get(type);
}

/** All registered definitions, by type. */
export function taskDefinitions(): AnyTaskDefinition[] {
  return [...definitions.values()].sort((a, b) => a.type.localeCompare(b.type));
}
