/** What a handler sees: the task's data only (no bindings, no storage, no HTTP). */
export interface HandlerTask {
  id: string;
  type: string;
  params: Record<string, unknown>;
  description: string | null;
  domain: string | null;
  /** 1-based attempt number, so retry-aware handlers (flaky) stay deterministic. */
  attempt: number;
}

/** Injected time source: handlers never call Date.now() or setTimeout themselves, so tests control time. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface HandlerResult {
  success: boolean;
  result?: Record<string, unknown>;
  error?: string;
  /** false marks a permanent failure (bad params); absent or true lets the dispatcher retry. */
  retry?: boolean;
  /** 0..1; feeds the agent's capability update. Defaults to 1 on success, 0 on failure. */
  quality?: number;
}

export type Handler = (task: HandlerTask, clock: Clock) => HandlerResult | Promise<HandlerResult>;

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** A permanent failure: retrying with the same params cannot help. */
export function invalidParams(message: string): HandlerResult {
  return { success: false, error: `invalid params: ${message}`, retry: false };
}

/** The text a query-style handler works on: params.query, else the task description. */
export function queryText(task: HandlerTask): string {
  const q = task.params["query"];
  if (typeof q === "string" && q.trim() !== "") return q;
  return task.description ?? "";
}
