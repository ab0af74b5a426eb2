import { AppError } from "../errors";
import { READ_ONLY_CONTROL_TYPES } from "../organism/decisions";
import type { TaskExecutors } from "./executor-spec";
import { definitionFor } from "./registry";

const CONTROL_TYPES = new Set<string>(READ_ONLY_CONTROL_TYPES);

/** Read-only control types (get_organism_status, …): accepted as tasks, answered by the coordinator, not by a definition. */
export const isControlType = (type: string): boolean => CONTROL_TYPES.has(type);

export interface FieldProblem {
  path: string;
  message: string;
}

/**
 * Checks each submission's type is defined and its params parse with the definition's schema;
 * throws a 400 (validation_failed) naming the first bad field, `pathOf(i, "params")` + the zod
 * issue's path (`params.ms`, `tasks.3.params.ms`, `task.params.ms`). Pure: reads only the registry.
 * Control types are let through as they are (their params are not read).
 */
export function checkTaskInputs(inputs: readonly { type: string; params?: Record<string, unknown> | undefined }[], pathOf: (index: number, field: string) => string, config: { TASK_EXECUTORS: TaskExecutors }): void {
  inputs.forEach((input, i) => {
    if (isControlType(input.type)) return;
    const def = definitionFor(input.type, config);
    if (!def) {
      const path = pathOf(i, "type");
      const message = `unknown task type '${input.type}'; GET /types lists the defined types`;
      throw new AppError("validation_failed", `${path}: ${message}`, { fields: [{ path, message }] });
    }
    const parsed = def.params.safeParse(input.params ?? {});
    if (parsed.success) return;
    const fields: FieldProblem[] = parsed.error.issues.map((issue) => ({
      path: [pathOf(i, "params"), ...issue.path.map(String)].join("."),
      message: issue.message,
    }));
    const first = fields[0] as FieldProblem;
    throw new AppError("validation_failed", `${first.path}: ${first.message}`, { fields });
  });
}
