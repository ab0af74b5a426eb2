import { exports } from "cloudflare:workers";

/** A request through the Worker's own fetch (SeedCore's HTTP API). */
export function api(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(`http://localhost${path}`, init));
}

export interface TaskJson {
  id: string;
  status: string;
  type: string;
  result: unknown;
  error: string | null;
  attempts: number;
  progress: { current: number; total: number | null; message: string | null; at: string | null } | null;
}

/** POST /tasks; returns the created task. */
export async function submit(type: string, params: Record<string, unknown>): Promise<TaskJson> {
  const res = await api("/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type, params }) });
  if (res.status !== 201 && res.status !== 200) throw new Error(`POST /tasks ${type}: ${res.status} ${await res.text()}`);
  return (await res.json()) as TaskJson;
}

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

/**
 * Waits until the task is finished: the local queue in the test runtime delivers the submission's
 * wake-up to the Worker's queue consumer, which runs the task; `?wait=` holds the request until then.
 */
export async function finished(id: string, timeoutMs = 20_000): Promise<TaskJson> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await api(`/tasks/${id}?wait=5`);
    if (res.status !== 200) throw new Error(`GET /tasks/${id}: ${res.status} ${await res.text()}`);
    const task = (await res.json()) as TaskJson;
    if (TERMINAL.has(task.status) || Date.now() > until) return task;
  }
}
