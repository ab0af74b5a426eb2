import { env } from "cloudflare:workers";
import { describe, expect, inject, it, vi } from "vitest";
import { api, finished, submit, type TaskJson } from "./helpers";

const quoteServer = inject("quoteServer");

describe("my-tasks on SeedCore Edge", () => {
  it("lists its own task types next to the built-ins", async () => {
    const res = await api("/types");
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("save_note");
    expect(text).toContain("fetch_quote");
  });

  it("save_note writes the note to the NOTES KV namespace", async () => {
    const key = `hello-${crypto.randomUUID()}`;
    const task = await submit("save_note", { key, text: "remember the milk" });
    const done = await finished(task.id);
    expect(done.status, done.error ?? "").toBe("completed");
    expect(done.result).toEqual({ key: `note:${key}`, bytes: 17 });
    expect(await env.NOTES.get(`note:${key}`)).toBe("remember the milk");
  });

  it("refuses save_note params that do not match its schema (400, nothing queued)", async () => {
    const res = await api("/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "save_note", params: { key: "" } }) });
    expect(res.status).toBe(400);
  });

  it("fetch_quote fetches from the API in a step and reports its progress", async () => {
    const task = await submit("fetch_quote", { url: `${quoteServer}/quote` });
    const done = await finished(task.id);
    expect(done.status, done.error ?? "").toBe("completed");
    expect(done.result).toEqual({ quote: "Simplicity is prerequisite for reliability.", author: "Edsger W. Dijkstra" });
    // The last ctx.progress() is stored with the task.
    expect(done.progress).toMatchObject({ current: 2, total: 2, message: "done" });
    // The step's result is stored (task_steps), so a later attempt would not fetch again.
    const step = await env.DB.prepare("SELECT name, result FROM task_steps WHERE task_id = ?").bind(task.id).first<{ name: string; result: string }>();
    expect(step?.name).toBe("fetch");
    expect(JSON.parse(step?.result ?? "null")).toEqual(done.result);
  });

  it("fetch_quote reads a plain-text API too", async () => {
    const done = await finished((await submit("fetch_quote", { url: `${quoteServer}/text` })).id);
    expect(done.status, done.error ?? "").toBe("completed");
    expect(done.result).toEqual({ quote: "Make it work, make it right, make it fast.", author: null });
  });

  it("fetch_quote fails at once, without retries, when the API answers 404 (PermanentError)", async () => {
    const done = await finished((await submit("fetch_quote", { url: `${quoteServer}/missing` })).id);
    expect(done.status).toBe("failed");
    expect(done.attempts).toBe(1);
    expect(done.error).toContain("404");
  });

  it("fetch_quote's request is aborted through ctx.signal when the task is cancelled", async () => {
    const tag = crypto.randomUUID();
    const task = await submit("fetch_quote", { url: `${quoteServer}/hang?tag=${tag}` });
    const seen = async () => (await (await fetch(`${quoteServer}/closed`)).json()) as { hanging: string[]; closed: string[] };
    await vi.waitFor(async () => expect((await seen()).hanging).toContain(tag), { timeout: 10_000, interval: 100 });
    const running = (await (await api(`/tasks/${task.id}`)).json()) as TaskJson;
    expect(running.progress).toMatchObject({ current: 0, total: 2, message: "fetching" });
    expect((await api(`/tasks/${task.id}/cancel`, { method: "POST" })).status).toBe(200);
    // The running organ learns of the cancel at its next heartbeat (HEARTBEAT_S, 0.2 s in vitest.config.ts) and aborts the signal.
    await vi.waitFor(async () => expect((await seen()).closed).toContain(tag), { timeout: 10_000, interval: 100 });
    expect((await finished(task.id)).status).toBe("cancelled");
  });
});
