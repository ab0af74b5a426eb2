/**
 * The package's public surface (`import … from "seedcore-edge"`): define task types, run them in
 * your own Worker, and export the Durable Object classes its wrangler.toml binds.
 */
export { seedcore } from "./worker";
export { defineTask } from "./tasks/define-task";
export type { ChildTask, LogLevel, ParentView, RetryPolicy, TaskContext, TaskDefinition, TaskInfo, TaskLog, TaskProgress } from "./tasks/define-task";
export { DeferredError, PermanentError, RetryAfterError } from "./tasks/errors";
export type { JsonInit, ServiceClient } from "./services/service-client";
export type { ServiceSpec } from "./services/service-spec";
export type { ExecutorContext, ExecutorTask, HttpExecutor, ServiceExecutor, TaskExecutor } from "./tasks/executors";
export { submitTask, typedBinding, type TaskSubmission, type TypedBinding } from "./typed-tasks";
export { createClient, type SeedCoreClient } from "./client";
// Also importable alone, without the Workers-only modules: `seedcore-edge/pull-worker` (Node ≥ 20, any fetch runtime).
export { LeaseLostError, PullWorkerError, runPullWorker } from "./pull-worker";
export type { LeasedTask, PullHandler, PullTaskContext, PullWorkerHandle, PullWorkerOptions } from "./pull-worker";
export type { SeedCoreBinding } from "./service-client";
export { OrganismManager } from "../durable-objects/organism-manager";
export { Organ } from "../durable-objects/organ";
export { TaskReaper } from "../durable-objects/task-reaper";
export { TaskWaiter } from "../durable-objects/task-waiter";
export { SeedCoreService } from "./service";
export { z } from "zod";
