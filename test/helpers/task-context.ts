import type { AnyTaskDefinition, ChildTask, LogLevel, TaskContext, TaskInfo, TaskProgress } from "../../src/tasks/define-task";

/** What a fake context recorded while a task ran. */
export interface TaskRecorder {
  sleeps: number[];
  steps: Map<string, unknown>;
  progress: (number | TaskProgress)[];
  log: { level: LogLevel; message: string; data?: unknown }[];
  heartbeats: unknown[];
  children: { child: ChildTask; key: string; id: string }[];
}

export interface FakeContextOptions {
  /** The fixed clock (epoch ms); default 2026-01-15T09:30:00Z. */
  now?: number;
  attempt?: number;
  task?: Partial<TaskInfo>;
  lastHeartbeat?: unknown;
  /** Attempt length from `now`; default 60 s. */
  timeoutMs?: number;
  env?: Env;
  /** Sleeps wait for real (still aborting with the signal); default: they resolve at once. */
  realSleep?: boolean;
}

export const FIXED_NOW = Date.UTC(2026, 0, 15, 9, 30, 0);

const abortReason = (signal: AbortSignal): unknown => signal.reason ?? new DOMException("aborted", "AbortError");

/**
 * A TaskContext for unit tests: a fixed `now`, a real AbortController (abort it through
 * `controller`), and step / progress / log / heartbeat / submit recorded in memory.
 */
export function fakeTaskContext(options: FakeContextOptions = {}): { ctx: TaskContext; controller: AbortController; recorded: TaskRecorder } {
  const now = options.now ?? FIXED_NOW;
  const controller = new AbortController();
  const { signal } = controller;
  const recorded: TaskRecorder = { sleeps: [], steps: new Map(), progress: [], log: [], heartbeats: [], children: [] };
  const logAt = (level: LogLevel) => (message: string, data?: unknown) => void recorded.log.push({ level, message, ...(data === undefined ? {} : { data }) });
  const ctx: TaskContext = {
    env: options.env ?? ({} as Env),
    signal,
    deadline: now + (options.timeoutMs ?? 60_000),
    attempt: options.attempt ?? 1,
    task: { id: "00000000-0000-4000-8000-000000000001", type: "test_task", description: null, domain: null, parents: null, ...options.task },
    lastHeartbeat: options.lastHeartbeat ?? null,
    services: {},
    heartbeat: async (details) => {
      recorded.heartbeats.push(details);
      return { cancel_requested: signal.aborted };
    },
    progress: (p) => void recorded.progress.push(p),
    step: async <T>(name: string, fn: () => T | Promise<T>): Promise<T> => {
      if (recorded.steps.has(name)) return recorded.steps.get(name) as T;
      const value = await fn();
      recorded.steps.set(name, JSON.parse(JSON.stringify(value ?? null)) as unknown);
      return value;
    },
    submit: async (child, key) => {
      const known = recorded.children.find((c) => c.key === key);
      if (known) return { id: known.id, created: false };
      const id = crypto.randomUUID();
      recorded.children.push({ child, key, id });
      return { id, created: true };
    },
    log: { info: logAt("info"), warn: logAt("warn"), error: logAt("error") },
    now: () => now,
    sleep: (ms) => {
      recorded.sleeps.push(ms);
      if (signal.aborted) return Promise.reject(abortReason(signal));
      if (!options.realSleep) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        }, ms);
        const onAbort = () => {
          clearTimeout(timer);
          reject(abortReason(signal));
        };
        signal.addEventListener("abort", onAbort, { once: true });
      });
    },
  };
  return { ctx, controller, recorded };
}

/**
 * Runs a definition the way the executor does: params parsed with its schema first (a refusal
 * throws the ZodError), then `run` with the context.
 */
export async function runDefinition(def: AnyTaskDefinition, params: Record<string, unknown>, ctx: TaskContext): Promise<unknown> {
  const parsed = def.params.parse(params);
  return def.run(parsed, ctx);
}
