import type { EventActor } from "./db/schema";
import { TERMINAL_STATUSES } from "./db/schema";
import { QUEUE_LIMITS } from "./lib/platform-limits";
import type { Db } from "./store/db";
import { runDependentsRound, type ChangedTask, type TerminalEffects } from "./store/dependents";
import { returnWebhooks, takePendingWebhooks } from "./store/webhooks";
import type { WebhookMessage } from "./webhooks/message";
import { waiterStub } from "./clients/waiter-stub";

/** What happens after a terminal batch commits (its flags made it durable; this makes it prompt). */
export interface FollowUpDeps {
  db: Db;
  webhooks: Queue<WebhookMessage>;
  /** Wakes the `?wait` callers of these tasks. */
  notify: (ids: string[]) => Promise<void>;
  now: () => number;
}

/** Rounds a follow-up runs at once when one round did not finish the dependents; the alarm takes the rest. */
export const FOLLOW_UP_ROUNDS = 10;

/** Sends the webhook jobs of these tasks (taken pending → sent first); a failed send leaves them to the alarm. */
export async function sendWebhooks(ids: string[], deps: Pick<FollowUpDeps, "db" | "webhooks" | "now">): Promise<void> {
  if (ids.length === 0) return;
  await queueWebhookJobs(await takePendingWebhooks(deps.db, ids, deps.now()), deps);
}

/** Queues one job per taken webhook, in sends of at most 100 messages (each ≈ 60 B). */
export async function queueWebhookJobs(taken: string[], deps: Pick<FollowUpDeps, "db" | "webhooks">): Promise<void> {
  for (let i = 0; i < taken.length; i += QUEUE_LIMITS.batchMessages) {
    const chunk = taken.slice(i, i + QUEUE_LIMITS.batchMessages);
    try {
      await deps.webhooks.sendBatch(chunk.map((task_id) => ({ body: { kind: "webhook", task_id } })));
    } catch (err) {
      console.error("webhook jobs could not be queued; the maintenance alarm will send them", err);
      await returnWebhooks(deps.db, chunk).catch(() => undefined);
    }
  }
}

/**
 * After a batch that may have finished tasks: more dependency rounds while the batch's round left
 * work (at most `maxRounds`, as the caller's statement budget allows), then the waiters of every
 * finished watched task, then the pending webhooks.
 * Returns how many dependents were queued (the dispatcher has new due work).
 */
export async function followUpTerminal(
  changed: ChangedTask[],
  dependents: TerminalEffects,
  actor: EventActor,
  deps: FollowUpDeps,
  maxRounds = FOLLOW_UP_ROUNDS,
): Promise<number> {
  const all = [...changed, ...dependents.changed];
  let more = dependents.more;
  for (let round = 0; more && round < maxRounds; round++) {
    const next = await runDependentsRound(deps.db, actor, deps.now());
    all.push(...next.changed);
    more = next.more;
  }
  const finished = all.filter((t) => TERMINAL_STATUSES.includes(t.status));
  const watched = finished.filter((t) => t.watched === 1).map((t) => t.id);
  if (watched.length > 0) await deps.notify(watched);
  await sendWebhooks(finished.filter((t) => t.webhook_state === "pending").map((t) => t.id), deps);
  return all.slice(changed.length).filter((t) => t.status === "queued").length;
}

/** Notifies the waiter shards of these tasks, one call per shard; a failure only delays a waiter to its timeout. */
export async function notifyWaiters(env: Pick<Env, "TASK_WAITER">, ids: string[]): Promise<void> {
  const byShard = new Map<string, string[]>();
  for (const id of ids) byShard.set(id.slice(0, 2), [...(byShard.get(id.slice(0, 2)) ?? []), id]);
  await Promise.all(
    [...byShard.values()].map((group) =>
      waiterStub(env, group[0] as string)
        .notify(group)
        .catch((err: unknown) => console.warn("waiters could not be notified", err)),
    ),
  );
}

/** The real follow-up dependencies of a Worker invocation. */
export function followUpDeps(env: Pick<Env, "TASK_WAITER" | "WEBHOOK_QUEUE">, db: Db): FollowUpDeps {
  return { db, webhooks: env.WEBHOOK_QUEUE, notify: (ids) => notifyWaiters(env, ids), now: Date.now };
}
