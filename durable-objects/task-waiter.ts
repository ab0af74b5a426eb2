import { DurableObject } from "cloudflare:workers";
import { TERMINAL_STATUSES, type TaskStatus } from "../src/db/schema";
import { openDb } from "../src/store/db";
import { taskStatusOf } from "../src/store/find-task";

/**
 * Holds the callers of `?wait=S` until their task finishes. Sharded by the task id's first two hex
 * digits (256 objects at most), in memory only: a waiter is a pending promise and a timer, so a
 * wait costs no polling. Whoever writes a terminal state of a watched task calls `notify` after
 * its commit; a notify that arrives before the waiter did is covered by the one D1 read the
 * waiter makes after registering, and a lost notify only makes the waiter return at its timeout.
 */
export class TaskWaiter extends DurableObject<Env> {
  private readonly waiting = new Map<string, Set<() => void>>();

  /** True as soon as the task is terminal, false when `timeoutMs` passes first. */
  async wait(id: string, timeoutMs: number): Promise<boolean> {
    let finish!: (done: boolean) => void;
    const done = new Promise<boolean>((resolve) => (finish = resolve));
    const wake = () => finish(true);
    const set = this.waiting.get(id) ?? new Set();
    set.add(wake);
    this.waiting.set(id, set);
    const timer = setTimeout(() => finish(false), timeoutMs);
    try {
      // Registered first, then read: a terminal write committed before this read is seen here,
      // one committed after it notifies us.
      const status: TaskStatus | null = await taskStatusOf(openDb(this.env.DB), id);
      if (status === null || TERMINAL_STATUSES.includes(status)) finish(true);
      return await done;
    } finally {
      clearTimeout(timer);
      set.delete(wake);
      if (set.size === 0) this.waiting.delete(id);
    }
  }

  notify(ids: string[]): void {
    for (const id of ids) for (const wake of this.waiting.get(id) ?? []) wake();
  }
}
