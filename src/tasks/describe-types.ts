import { z } from "zod";
import { READ_ONLY_CONTROL_TYPES } from "../organism/decisions";
import type { AnyTaskDefinition, RetryPolicy } from "./define-task";
import type { TaskExecutors } from "./executor-spec";
import { definitionsFor } from "./registry";

/** A defined task type as GET /types shows it; null fields take the deployment's defaults. */
export interface TypeDescription {
  type: string;
  description: string | null;
  timeout_s: number | null;
  max_attempts: number | null;
  retry: RetryPolicy | null;
  organ: string | null;
  /** JSON Schema (draft 2020-12) of what params may be submitted; null when the zod schema has no JSON Schema form. */
  params_schema: Record<string, unknown> | null;
}

const schemas = new WeakMap<AnyTaskDefinition, Record<string, unknown> | null>();

/** The JSON Schema of a definition's params as clients send them (io: input), or null if zod cannot express it. */
export function paramsJsonSchema(def: AnyTaskDefinition): Record<string, unknown> | null {
  if (schemas.has(def)) return schemas.get(def) ?? null;
  let schema: Record<string, unknown> | null;
  try {
    schema = z.toJSONSchema(def.params, { io: "input" }) as Record<string, unknown>;
  } catch {
    schema = null;
  }
  schemas.set(def, schema);
  return schema;
}

export function describeType(def: AnyTaskDefinition): TypeDescription {
  return {
    type: def.type,
    description: def.description ?? null,
    timeout_s: def.timeout_s ?? null,
    max_attempts: def.max_attempts ?? null,
    retry: def.retry ?? null,
    organ: def.organ ?? null,
    params_schema: paramsJsonSchema(def),
  };
}

/** Every registered definition, and the types TASK_EXECUTORS defines, by type. */
export const describeTypes = (config: { TASK_EXECUTORS?: TaskExecutors } = {}): TypeDescription[] => definitionsFor(config).map(describeType);

/** Accepted as tasks too, answered by the coordinator (no definition, params not read). */
export const CONTROL_TYPES: readonly string[] = READ_ONLY_CONTROL_TYPES;
