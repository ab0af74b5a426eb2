import type { z } from "zod";
import type { SeedCoreClient } from "./client";
import type { taskInputSchema } from "./schemas/task";
import type { SeedCoreBinding } from "./service-client";
import type { TaskDefinition } from "./tasks/define-task";

/** A definition with its type as a literal (what defineTask returns). */
type Defined = TaskDefinition<z.ZodType, unknown> & { type: string };

/**
 * A submission of one of `D`'s types, its params typed by that type's schema: a submission of
 * `{ type: "send_email", params: { to: 42 } }` is a compile error, not a 400 at run time.
 */
export type TaskSubmission<D extends Defined> = D extends unknown
  ? Omit<z.input<typeof taskInputSchema>, "type" | "params"> & { type: D["type"]; params: z.input<D["params"]> }
  : never;

/** The service binding with `submit` / `submitBatch` typed by your definitions. */
export type TypedBinding<D extends Defined> = Omit<SeedCoreBinding, "submit" | "submitBatch"> & {
  submit(input: TaskSubmission<D>, options?: { idempotencyKey?: string }): ReturnType<SeedCoreBinding["submit"]>;
  submitBatch(inputs: TaskSubmission<D>[]): ReturnType<SeedCoreBinding["submitBatch"]>;
};

/**
 *   const seedcore = typedBinding<typeof sendEmail | typeof resize>(env.SEEDCORE);
 *   await seedcore.submit({ type: "send_email", params: { to: "a@b.c" } });
 */
export const typedBinding = <D extends Defined>(binding: SeedCoreBinding): TypedBinding<D> => binding as unknown as TypedBinding<D>;

/** POST /tasks through the typed HTTP client, the params typed by the definition. */
export function submitTask<D extends Defined>(api: SeedCoreClient, input: TaskSubmission<D>, query: { wait?: string } = {}) {
  return api.tasks.$post({ json: input as z.input<typeof taskInputSchema>, query, header: {} });
}
