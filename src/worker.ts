import type { z } from "zod";
import { parseConfig, requireConfig } from "./config";
import { createApp } from "./app";
import { dispatchBatch } from "./dispatch/consumer";
import { runtime } from "./dispatch/runtime";
import { DEAD_LETTER_QUEUE, handleDeadLetters } from "./dispatch/dead-letters";
import { dispatcherTypes } from "./dispatch/pull-types";
import { countStatements } from "./store/count-statements";
import { openDb } from "./store/db";
import { reaperStub } from "./maintenance/reaper-stub";
import { followUpDeps, followUpTerminal } from "./follow-ups";
import type { TaskDefinition } from "./tasks/define-task";
import { registerTasks } from "./tasks/registry";
import { deliverWebhooks, handleWebhookDeadLetters } from "./webhooks/deliver";
import { WEBHOOK_DEAD_LETTER_QUEUE, WEBHOOK_QUEUE } from "./webhooks/message";

const app = createApp();

let reaperArmed = false;
/** The reaper's alarm must exist before anything can get stuck; arm it once per isolate. */
function armReaper(env: Env, ctx: ExecutionContext): void {
  if (reaperArmed) return;
  reaperArmed = true;
  ctx.waitUntil(
    reaperStub(env)
      .ensureScheduled()
      .catch((err: unknown) => {
        reaperArmed = false;
        console.error("could not arm the reaper alarm", err);
      }),
  );
}

/**
 * The SeedCore Worker (HTTP API, queue consumers, cron backstop) running `tasks` besides the
 * built-ins. A user's Worker exports this as its default, and the Durable Object classes by name:
 *
 *   export default seedcore({ tasks: [sendEmail, resizeImage] });
 *   export { OrganismManager, Organ, TaskReaper, TaskWaiter, SeedCoreService } from "seedcore-edge";
 */
export function seedcore(options: { tasks?: readonly TaskDefinition<z.ZodType, unknown>[] } = {}): ExportedHandler<Env, unknown> {
  registerTasks(options.tasks ?? []);
  return handler;
}

const handler = {
  fetch(request, env, ctx) {
    armReaper(env, ctx);
    return app.fetch(request, env, ctx);
  },

  async queue(batch, env, ctx) {
    armReaper(env, ctx);
    const counted = countStatements(env.DB);
    const db = openDb(counted.d1);
    if (batch.queue === DEAD_LETTER_QUEUE) {
      // The dead letters are counted even on a broken config; the pull types are skipped when it parses.
      const parsed = parseConfig(env);
      return handleDeadLetters(batch, db, env.TASK_QUEUE, Date.now(), parsed.ok ? dispatcherTypes(parsed.config) : undefined);
    }
    const config = requireConfig(env);
    if (batch.queue === WEBHOOK_QUEUE) return deliverWebhooks(batch, { db, config, fetch: (input, init) => fetch(input, init), now: Date.now });
    if (batch.queue === WEBHOOK_DEAD_LETTER_QUEUE) return handleWebhookDeadLetters(batch, { db, config, now: Date.now });
    await dispatchBatch(batch, {
      db,
      queue: env.TASK_QUEUE,
      config,
      admit: runtime(env, config).admit,
      now: Date.now,
      random: Math.random, // jitter only
      newToken: () => crypto.randomUUID(),
      statementsUsed: counted.count,
      followUp: (recorded, maxRounds) => followUpTerminal(recorded.written, recorded.dependents, "dispatcher", followUpDeps(env, db), maxRounds),
    });
  },

  /** Backstop: re-arms the alarm if it was ever lost and runs one pass now. */
  async scheduled(_controller, env) {
    const reaper = reaperStub(env);
    await reaper.ensureScheduled();
    await reaper.runNow();
  },
} satisfies ExportedHandler<Env, unknown>;
