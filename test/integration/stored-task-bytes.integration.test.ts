import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { drain } from "../helpers/dispatch";
import { insertTask, settleOtherTasks, sql } from "../helpers/tasks";
import { api } from "../helpers/worker";

/**
 * What a finished task stores beyond its params and result (issue 23): its timeline coded
 * (store/timeline-codec.ts) and a fast-path execution packed (store/execution-codec.ts), read back
 * spelled out by the API and by the `task_timeline` view alike, whichever form a row holds.
 */
type Events = { items: { at: string; from_status: string | null; to_status: string; attempt: number; actor: string; message: string | null }[] };

const stored = (id: string) =>
  env.DB.prepare("SELECT length(events) AS events, length(execution) AS execution, events AS timeline, execution AS packed, locked_at, last_heartbeat FROM tasks WHERE id = ?")
    .bind(id)
    .first<{ events: number; execution: number; timeline: string; packed: string; locked_at: number | null; last_heartbeat: number | null }>();

async function viewOf(id: string) {
  const { results } = await env.DB.prepare("SELECT at, from_status, to_status, attempt, actor, message FROM task_timeline WHERE task_id = ? ORDER BY seq")
    .bind(id)
    .all<{ at: number; from_status: string | null; to_status: string; attempt: number; actor: string; message: string | null }>();
  return results.map((r) => ({ ...r, at: new Date(r.at).toISOString() }));
}

describe("a finished task's stored bytes", () => {
  it("stores a three-entry timeline in ≤ 40 B (the submission entry implied) and a fast-path execution in ≤ 45 B, shown spelled out", async () => {
    await settleOtherTasks();
    const res = await api("/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "ping", params: { n: 1 } }) });
    const { id } = await res.json<{ id: string }>();
    await drain();
    const bytes = await stored(id);
    // Spelled out, these were 182 B and 119 B.
    expect(bytes!.events).toBeLessThanOrEqual(40);
    expect(bytes!.execution).toBeLessThanOrEqual(45);
    // The dispatcher's claim and completion carry the messages their statuses imply: stored as [ms, from, to, attempt].
    expect(JSON.parse(bytes!.timeline)).toEqual([[expect.any(Number), 1, 2, 1], [expect.any(Number), 2, 3, 1]]);
    // The fast path's execution without a marker: [organ, replica, agent, p_fast, latency_ms].
    expect(JSON.parse(bytes!.packed)).toEqual(["utility_organ_1", expect.any(Number), expect.any(Number), expect.any(Number), expect.any(Number)]);
    // Neither the claim's time nor a heartbeat is stored once the task is done; both show as the claim's time.
    expect(bytes!.locked_at).toBeNull();
    expect(bytes!.last_heartbeat).toBeNull();

    const task = await (await api(`/tasks/${id}`)).json<{ status: string; created_at: string; locked_at: string; last_heartbeat: string; execution: Record<string, unknown> }>();
    expect(task.status).toBe("completed");
    expect(task.execution).toEqual({ path: "fast", organ_id: "utility_organ_1", replica: expect.any(Number), agent_id: expect.stringMatching(/^utility_organ_1_agent_\d+$/), p_fast: expect.any(Number), latency_ms: expect.any(Number) });
    const events = await (await api(`/tasks/${id}/events`)).json<Events>();
    expect(events.items).toEqual([
      { at: task.created_at, from_status: null, to_status: "queued", attempt: 0, actor: "api", message: "submitted" },
      { at: expect.any(String), from_status: "queued", to_status: "running", attempt: 1, actor: "dispatcher", message: "claimed" },
      { at: expect.any(String), from_status: "running", to_status: "completed", attempt: 1, actor: "dispatcher", message: "completed" },
    ]);
    expect(Date.parse(events.items[2]!.at)).toBeGreaterThanOrEqual(Date.parse(events.items[1]!.at));
    expect(task.locked_at).toBe(events.items[1]!.at);
    expect(task.last_heartbeat).toBe(events.items[1]!.at);
    expect(await viewOf(id)).toEqual(events.items);
  });

  it("reads a row written before the codes, and one appended to since, the same through the API and the view", async () => {
    const row = await insertTask({ type: "ping" });
    const t0 = row.createdAt;
    const old = [
      [t0, null, "queued", 0, "api", "submitted"],
      [t0 + 7, "queued", "running", 1, "dispatcher", "claimed"],
    ];
    await sql(
      "UPDATE tasks SET status = 'running', attempts = 1, locked_by = 'gone', lease_expires_at = ?, execution = ?, events = ? WHERE id = ?",
      t0 + 60_000,
      JSON.stringify({ path: "fast", organ_id: "utility_organ_1", replica: 0, agent_id: "utility_organ_1_agent_0", p_fast: 1, latency_ms: 2 }),
      JSON.stringify(old),
      row.id,
    );
    expect((await api(`/tasks/${row.id}/cancel`, { method: "POST" })).status).toBe(200);
    const task = await (await api(`/tasks/${row.id}`)).json<{ status: string; execution: unknown }>();
    expect(task.status).toBe("cancelled");
    expect(task.execution).toEqual({ path: "fast", organ_id: "utility_organ_1", replica: 0, agent_id: "utility_organ_1_agent_0", p_fast: 1, latency_ms: 2 });
    const events = await (await api(`/tasks/${row.id}/events`)).json<Events>();
    expect(events.items.map((e) => [e.from_status, e.to_status, e.actor, e.message])).toEqual([
      [null, "queued", "api", "submitted"],
      ["queued", "running", "dispatcher", "claimed"],
      ["running", "cancelled", "api", expect.any(String)],
    ]);
    expect(events.items[1]!.at).toBe(new Date(t0 + 7).toISOString());
    expect(await viewOf(row.id)).toEqual(events.items);
  });
});
