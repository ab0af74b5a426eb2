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
import { testTask } from "./test-task";
import type { Handler } from "./types";
import { workflowStep } from "./workflow-step";

/** Task type → handler. Adding a handler: one file in this folder plus one line here. */
export const HANDLERS: Readonly<Record<string, Handler>> = {
  general_query: generalQuery,
  health_check: healthCheck,
  status,
  ping,
  test_task: testTask,
  test: testTask,
  execute,
  workflow_step: workflowStep,
  side_effect: sideEffect,
  analyze,
  plan,
  sleep,
  flaky,
};

export function handlerFor(type: string): Handler | undefined {
  const key = type.trim().toLowerCase();
  return Object.hasOwn(HANDLERS, key) ? HANDLERS[key] : undefined;
}
