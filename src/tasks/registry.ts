import { BUILTIN_TASKS } from "./builtins";
import type { AnyTaskDefinition, TaskDefinition } from "./define-task";
import { z } from "zod";
import type { TaskExecutor, TaskExecutors } from "./executor-spec";
import { executorRun } from "./executors";

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

/** A type TASK_EXECUTORS defines on its own takes any JSON object as params. */
const anyParams = z.record(z.string(), z.unknown());

/** Definitions made from TASK_EXECUTORS, per parsed config (one config per isolate's env). */
const fromConfig = new WeakMap<TaskExecutors, Map<string, AnyTaskDefinition>>();

/**
 * The definition a type runs by under this config: TASK_EXECUTORS names the executor of a defined
 * type (the deployment's choice wins over the code's), or defines a type of its own (params: any
 * JSON object); else the registered definition.
 */
export function definitionFor(type: string, config: { TASK_EXECUTORS?: TaskExecutors }): AnyTaskDefinition | undefined {
  const executors = config.TASK_EXECUTORS;
  const executor = executors && Object.hasOwn(executors, type) ? executors[type] : undefined;
  if (!executors || !executor) return definitions.get(type);
  let made = fromConfig.get(executors);
  if (!made) fromConfig.set(executors, (made = new Map()));
  const code = definitions.get(type);
  let def = made.get(type);
  if (!def || (code && def.params !== code.params)) {
    const base: Omit<AnyTaskDefinition, "run"> = code ?? { type, params: anyParams, description: `${executorWhere(executor)} (TASK_EXECUTORS)` };
    def = { ...base, executor, run: executorRun(executor) };
    made.set(type, def);
  }
  return def;
}

function executorWhere(executor: TaskExecutor): string {
  if (executor.kind === "http") return `runs on ${executor.url}`;
  if (executor.kind === "service") return `runs on service binding ${executor.binding}`;
  return "leased by pull workers";
}

/**
 * The pull types under this config (executor `{kind: "pull"}`, from a definition or TASK_EXECUTORS),
 * sorted: the dispatcher's claim skips them, POST /workers/lease takes only them.
 */
export function pullTypes(config: { TASK_EXECUTORS?: TaskExecutors }): string[] {
  return definitionsFor(config)
    .filter((def) => def.executor?.kind === "pull")
    .map((def) => def.type);
}

/** All definitions under this config: the registered ones, and the types TASK_EXECUTORS defines (executor applied), by type. */
export function definitionsFor(config: { TASK_EXECUTORS?: TaskExecutors }): AnyTaskDefinition[] {
  const types = new Set([...definitions.keys(), ...Object.keys(config.TASK_EXECUTORS ?? {})]);
  return [...types].sort().flatMap((type) => {
    const def = definitionFor(type, config);
    return def ? [def] : [];
  });
}
