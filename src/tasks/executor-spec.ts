import { z } from "zod";
import { taskTypeSchema } from "../schemas/task";

/**
 * Where a type's work runs when not in this Worker (DESIGN §16, issue 22):
 * - `http`: the task is POSTed, signed like a webhook, to `url`; the answer is the outcome.
 * - `service`: RPC to `method` (default "run") of another Worker's WorkerEntrypoint, reached
 *   through the service binding `binding`.
 * - `pull`: the dispatcher never claims the type's tasks; pull workers lease them over HTTP
 *   (POST /workers/lease, then /tasks/{id}/heartbeat|complete|fail|release).
 */
export const httpExecutorSchema = z.strictObject({
  kind: z.literal("http"),
  url: z.string().min(1).max(2048),
});
export const serviceExecutorSchema = z.strictObject({
  kind: z.literal("service"),
  /** The name of a service binding of this Worker ([[services]] in wrangler.toml). */
  binding: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a binding name"),
  method: z
    .string()
    .regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/, "must be a method name")
    .refine((m) => !["fetch", "connect", "constructor", "then"].includes(m), "is reserved")
    .optional(),
});
export const pullExecutorSchema = z.strictObject({
  kind: z.literal("pull"),
});
export const executorSchema = z.discriminatedUnion("kind", [httpExecutorSchema, serviceExecutorSchema, pullExecutorSchema]);

export type HttpExecutor = z.infer<typeof httpExecutorSchema>;
export type ServiceExecutor = z.infer<typeof serviceExecutorSchema>;
export type PullExecutor = z.infer<typeof pullExecutorSchema>;
export type TaskExecutor = z.infer<typeof executorSchema>;

/**
 * TASK_EXECUTORS: a JSON object mapping task types to executors, e.g.
 * `{"resize": {"kind": "http", "url": "https://img.example.com/run"}, "score": {"kind": "service", "binding": "SCORER"}, "transcode": {"kind": "pull"}}`.
 */
export const taskExecutorsSchema = z.record(taskTypeSchema, executorSchema);
export type TaskExecutors = Record<string, TaskExecutor>;
