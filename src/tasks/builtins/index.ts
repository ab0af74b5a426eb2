import type { AnyTaskDefinition } from "../define-task";
import { analyze } from "./analyze";
import { execute } from "./execute";
import { flaky } from "./flaky";
import { generalQuery } from "./general-query";
import { healthCheck } from "./health-check";
import { ping } from "./ping";
import { plan } from "./plan";
import { sideEffect } from "./side-effect";
import { sleep } from "./sleep";
import { status } from "./status";
import { test, testTask } from "./test-task";
import { workflowStep } from "./workflow-step";

/** The task types every deployment runs (registered before any user definition). */
export const BUILTIN_TASKS: readonly AnyTaskDefinition[] = [
  generalQuery,
  healthCheck,
  status,
  ping,
  testTask,
  test,
  execute,
  workflowStep,
  sideEffect,
  analyze,
  plan,
  sleep,
  flaky,
];
