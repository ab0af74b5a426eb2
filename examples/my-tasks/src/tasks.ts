import { defineTask, PermanentError, RetryAfterError, z } from "seedcore-edge";

/**
 * save_note {key, text}: stores `text` in the NOTES KV namespace under `note:<key>`.
 * A KV put of the same value is idempotent, so a retry after a lost lease does no harm.
 */
export const saveNote = defineTask({
  type: "save_note",
  description: "Stores a note in KV (NOTES) under note:<key>",
  params: z.object({
    key: z.string().min(1).max(200),
    text: z.string().max(100_000),
  }),
  timeout_s: 10,
  async run({ key, text }, ctx) {
    await ctx.env.NOTES.put(`note:${key}`, text);
    ctx.log.info("saved", { key, bytes: text.length });
    return { key: `note:${key}`, bytes: text.length };
  },
});

/**
 * fetch_quote {url}: GETs `url` (JSON `{quote, author}` or plain text) and returns the quote.
 * The fetch is a step: once it succeeded, a later attempt (say, after a crash while storing the
 * result) reuses the stored response instead of calling the API again. `ctx.signal` aborts the
 * request when the attempt's deadline passes or the task is cancelled.
 */
export const fetchQuote = defineTask({
  type: "fetch_quote",
  description: "Fetches a quote from an HTTP API",
  params: z.object({ url: z.url({ protocol: /^https?$/ }) }),
  timeout_s: 30,
  max_attempts: 4,
  retry: { base_s: 2, max_s: 60 },
  async run({ url }, ctx) {
    ctx.progress({ current: 0, total: 2, message: "fetching" });
    const quote = await ctx.step("fetch", async () => {
      const res = await fetch(url, { signal: ctx.signal, headers: { accept: "application/json, text/plain" } });
      if (res.status === 429 || res.status === 503) {
        const after = Number(res.headers.get("retry-after"));
        throw new RetryAfterError(`${url} answered ${res.status}`, Number.isFinite(after) && after > 0 ? after : 30);
      }
      // Another 4xx will not change on a retry: fail the task now.
      if (res.status >= 400 && res.status < 500) throw new PermanentError(`${url} answered ${res.status}`);
      // A 5xx (or a network error thrown by fetch) is retried with backoff.
      if (!res.ok) throw new Error(`${url} answered ${res.status}`);
      const type = res.headers.get("content-type") ?? "";
      if (type.includes("application/json")) {
        const body = (await res.json()) as { quote?: unknown; author?: unknown };
        return { quote: String(body.quote ?? ""), author: body.author == null ? null : String(body.author) };
      }
      return { quote: (await res.text()).trim(), author: null };
    });
    ctx.progress({ current: 1, total: 2, message: "fetched" });
    ctx.log.info("quote", { length: quote.quote.length });
    ctx.progress({ current: 2, total: 2, message: "done" });
    return quote;
  },
});
