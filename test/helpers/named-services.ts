import { afterAll, beforeEach, inject } from "vitest";
import { z } from "zod";
import { overrideServiceSpecs, resetServices } from "../../src/services/registry";
import { serviceSpecSchema, type ServiceSpecs } from "../../src/services/service-spec";
import { defineTask } from "../../src/tasks/define-task";
import { registerTasks } from "../../src/tasks/registry";
import { insertTask, settleOtherTasks } from "./tasks";

/** The loopback server of test/loopback-server.mjs (its port is not known to the config). */
export const loopbackOrigin = inject("loopbackOrigin");

/** A named service on the loopback's /svc routes. */
export const loopbackService = (over: object) => serviceSpecSchema.parse({ url: `${loopbackOrigin}/svc`, ...over });

/**
 * A task type whose code calls `ctx.services[service].json(path)`, and these specs given to the
 * organs before each test (the tests-only override; SERVICES parsing has its unit tests). Returns
 * how a test submits one such call.
 */
export function namedServiceCalls(type: string, specs: ServiceSpecs) {
  registerTasks([
    defineTask({
      type,
      params: z.object({ service: z.string(), path: z.string() }),
      timeout_s: 5,
      async run(p, ctx) {
        const client = ctx.services[p.service];
        if (!client) throw new Error(`no service ${p.service}`);
        return client.json(p.path);
      },
    }),
  ]);
  beforeEach(async () => {
    await settleOtherTasks();
    resetServices();
    overrideServiceSpecs(specs);
  });
  afterAll(() => overrideServiceSpecs(null));
  return (service: string, path: string) => insertTask({ type, params: { service, path } });
}
