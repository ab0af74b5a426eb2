import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { aiAnswerContent, cognitiveBackend, parseCognitiveAnswer } from "../../src/organism/cognitive-planner";
import type { PlannerInput } from "../../src/organism/planner";
import { resetServices, servicesFor, serviceState } from "../../src/services/registry";
import { createServiceClient, joinUrl, parseRetryAfter, RateLimiter, resolveHeaders, retryDecision, type CallContext, type Transport } from "../../src/services/service-client";
import { serviceSpecSchema } from "../../src/services/service-spec";
import { DeferredError, PermanentError, RetryAfterError } from "../../src/tasks/errors";

describe("RateLimiter", () => {
  it("grants its capacity at once, then one per refill interval", () => {
    const r = new RateLimiter(2, 1000, 0);
    expect([r.take(0), r.take(0)]).toEqual([0, 0]);
    expect(r.take(0)).toBe(500);
    expect(r.take(250)).toBe(250);
    expect(r.take(500)).toBe(0);
    expect(r.take(500)).toBe(500);
  });
  it("never holds more than its capacity, however long it was idle", () => {
    const r = new RateLimiter(1, 60_000, 0);
    expect(r.take(10 * 60_000)).toBe(0);
    expect(r.take(10 * 60_000)).toBe(60_000);
  });
  it("is made from per_second or per_minute", () => {
    expect(RateLimiter.of(undefined, 0)).toBeNull();
    expect(RateLimiter.of({ per_minute: 30 }, 0)?.capacity).toBe(30);
  });
});

describe("retry decision", () => {
  it("reads Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("2", 0)).toBe(2000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter("soon", 0)).toBeNull();
    expect(parseRetryAfter(null, 0)).toBeNull();
  });
  it("waits Retry-After when the deadline allows, else hands the time to the task", () => {
    const f = { kind: "status", status: 503, retryAfterMs: 2000 } as const;
    expect(retryDecision(f, 1, 2, 0, 10_000, 0.5)).toEqual({ kind: "retry", delayMs: 2000 });
    expect(retryDecision(f, 1, 2, 0, 1500, 0.5)).toEqual({ kind: "retry_task_at", retryAfterMs: 2000 });
    expect(retryDecision(f, 3, 2, 0, 10_000, 0.5)).toEqual({ kind: "retry_task_at", retryAfterMs: 2000 });
  });
  it("backs off with jitter without Retry-After, and gives up when retries run out", () => {
    expect(retryDecision({ kind: "timeout" }, 1, 2, 0, 10_000, 0)).toEqual({ kind: "retry", delayMs: 125 });
    expect(retryDecision({ kind: "timeout" }, 2, 2, 0, 10_000, 1)).toEqual({ kind: "retry", delayMs: 500 });
    expect(retryDecision({ kind: "timeout" }, 3, 2, 0, 10_000, 1)).toEqual({ kind: "give_up" });
    expect(retryDecision({ kind: "network", error: "refused" }, 1, 2, 0, 100, 1)).toEqual({ kind: "give_up" });
  });
});

describe("headers and URLs", () => {
  it("takes secret:NAME from the secrets and keeps literals", () => {
    expect(resolveHeaders("s", { authorization: "secret:TOKEN", "x-team": "core" }, { TOKEN: "Bearer abc" })).toEqual({ authorization: "Bearer abc", "x-team": "core" });
    expect(() => resolveHeaders("s", { authorization: "secret:MISSING" }, {})).toThrow(PermanentError);
    expect(() => resolveHeaders("s", { authorization: "secret:MISSING" }, {})).toThrow(/MISSING/);
  });
  it("joins paths under the base and refuses absolute URLs", () => {
    expect(joinUrl("https://a/v1/", "/x?y=1")).toBe("https://a/v1/x?y=1");
    expect(joinUrl("https://a/v1", "x")).toBe("https://a/v1/x");
    expect(() => joinUrl("https://a", "https://evil/")).toThrow(PermanentError);
  });
});

describe("SERVICES config", () => {
  it("is validated at start: bad JSON or a bad spec refuses the config, naming it", () => {
    const ok = parseConfig({ SERVICES: '{"billing": {"url": "https://billing.example/api", "timeout_s": 5, "rate": {"per_second": 10}, "headers": {"Authorization": "secret:BILLING_KEY"}}}' });
    expect(ok.ok && ok.config.SERVICES["billing"]).toMatchObject({ url: "https://billing.example/api", timeout_s: 5, retries: 2, breaker: { failures: 5, recovery_s: 30 } });
    const bad = parseConfig({ SERVICES: "{nope" });
    expect(!bad.ok && bad.error).toMatch(/SERVICES: must be a JSON object/);
    const both = parseConfig({ SERVICES: '{"x": {"url": "https://a", "binding": "B"}}' });
    expect(!both.ok && both.error).toMatch(/SERVICES.*exactly one of url, binding/);
    const name = parseConfig({ SERVICES: '{"not-an-id": {"url": "https://a"}}' });
    expect(!name.ok && name.error).toMatch(/SERVICES.not-an-id: service names are identifiers/);
    expect(parseConfig({ COGNITIVE_URL: "ftp://x" }).ok).toBe(false);
    const reserved = parseConfig({ SERVICES: '{"cognitive": {"url": "https://a"}}' });
    expect(!reserved.ok && reserved.error).toMatch(/cognitive planner/);
  });
});

describe("service client", () => {
  const spec = (over: object = {}) => serviceSpecSchema.parse({ url: "https://svc.example", retries: 2, breaker: { failures: 2, recovery_s: 30 }, ...over });
  function harness(replies: (Response | Error)[], over: object = {}, deadline = 60_000) {
    resetServices();
    let now = 0;
    const sleeps: number[] = [];
    const seen: Request[] = [];
    const transport: Transport = async (req) => {
      seen.push(req);
      const next = replies.shift() ?? new Response("{}");
      if (next instanceof Error) throw next;
      return next;
    };
    const call: CallContext = { signal: new AbortController().signal, deadline, now: () => now, random: () => 0.5, sleep: async (ms) => void (sleeps.push(ms), (now += ms)) };
    const s = spec(over);
    const state = serviceState("t", s, () => now);
    const client = createServiceClient("t", s, "https://svc.example", () => ({ authorization: "Bearer k" }), transport, state, call);
    return { client, sleeps, seen, state };
  }

  it("retries a 503 after its Retry-After, then returns the answer; headers are sent", async () => {
    const h = harness([new Response("busy", { status: 503, headers: { "retry-after": "1" } }), Response.json({ ok: 1 })]);
    expect(await h.client.json("/thing", { method: "POST", body: { a: 1 } })).toEqual({ ok: 1 });
    expect(h.sleeps).toEqual([1000]);
    expect(h.seen[1]?.headers.get("authorization")).toBe("Bearer k");
    expect(h.seen[1]?.headers.get("content-type")).toBe("application/json");
    expect(h.state.counts).toMatchObject({ requests: 2, ok: 1, failed: 1, retries: 1 });
  });
  it("throws RetryAfterError when the deadline leaves no room for the Retry-After", async () => {
    const h = harness([new Response("", { status: 429, headers: { "retry-after": "30" } })], {}, 5000);
    await expect(h.client.fetch("/x")).rejects.toBeInstanceOf(RetryAfterError);
  });
  it("a 4xx is permanent for json(), a 500 is not retried but fails retriably", async () => {
    await expect(harness([new Response("no", { status: 404 })]).client.json("/x")).rejects.toBeInstanceOf(PermanentError);
    const h = harness([new Response("boom", { status: 500 })]);
    const err = await h.client.json("/x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(PermanentError);
    expect(h.seen).toHaveLength(1);
  });
  it("opens the breaker after its failures; the next call is deferred without sending", async () => {
    const h = harness([new Error("refused"), new Error("refused")], { retries: 1 });
    await expect(h.client.fetch("/x")).rejects.toThrow(/could not be reached/);
    const deferred = await h.client.fetch("/x").catch((e: unknown) => e);
    expect(deferred).toBeInstanceOf(DeferredError);
    expect((deferred as DeferredError).retryAfterMs).toBeGreaterThan(20_000);
    expect(h.seen).toHaveLength(2);
    expect(h.state.counts.deferred_breaker).toBe(1);
  });
  it("an exhausted rate defers the call", async () => {
    const h = harness([], { rate: { per_minute: 1 } });
    await h.client.fetch("/x");
    await expect(h.client.fetch("/x")).rejects.toBeInstanceOf(DeferredError);
    expect(h.state.counts.deferred_rate).toBe(1);
  });
});

describe("cognitive answers", () => {
  const input: PlannerInput = {
    task: { type: "general_query", params: {}, description: "x", domain: null } as unknown as PlannerInput["task"],
    routedOrganId: "utility_organ_1",
    knownOrgans: new Set(["utility_organ_1"]),
    routing: { byType: {}, byTypeDomain: {} },
    maxSteps: 4,
  };
  const answer = (content: string) => ({ choices: [{ message: { content } }] });
  it("takes a valid plan, fenced or not", () => {
    const plan = parseCognitiveAnswer(answer('```json\n{"steps":[{"organ_id":"utility_organ_1","task":{"type":"ping","params":{}}}]}\n```'), input);
    expect(plan).toMatchObject({ ok: true, plan: { plan_source: "llm", steps: [{ organ_id: "utility_organ_1", task: { type: "ping" } }] } });
  });
  it("refuses prose, unknown organs, unknown types and bad params", () => {
    expect(parseCognitiveAnswer(answer("Sure!"), input)).toMatchObject({ ok: false, reason: "invalid_json" });
    expect(parseCognitiveAnswer({}, input)).toMatchObject({ ok: false, reason: "invalid_json" });
    expect(parseCognitiveAnswer(answer('{"steps":[{"organ_id":"mars","task":{"type":"ping"}}]}'), input)).toMatchObject({ ok: false, reason: "invalid_plan" });
    expect(parseCognitiveAnswer(answer('{"steps":[{"organ_id":"utility_organ_1","task":{"type":"launch"}}]}'), input)).toMatchObject({ ok: false, reason: "invalid_plan", error: expect.stringMatching(/unknown task type 'launch'/) });
    expect(parseCognitiveAnswer(answer('{"steps":[{"organ_id":"utility_organ_1","task":{"type":"sleep","params":{"ms":999999}}}]}'), input)).toMatchObject({ ok: false, reason: "invalid_plan" });
  });
});

describe("Workers AI as the cognitive backend", () => {
  const ai = { run: async () => ({ response: "{}" }) };
  it("COGNITIVE_URL wins; else the binding with an explicit COGNITIVE_MODEL; else none", () => {
    expect(cognitiveBackend({ COGNITIVE_URL: "https://a/v1", COGNITIVE_MODEL: "@cf/x" }, ai)).toMatchObject({ kind: "url", url: "https://a/v1" });
    expect(cognitiveBackend({ COGNITIVE_URL: undefined, COGNITIVE_MODEL: "@cf/x" }, ai)).toMatchObject({ kind: "ai", model: "@cf/x" });
    expect(cognitiveBackend({ COGNITIVE_URL: undefined, COGNITIVE_MODEL: undefined }, ai)).toBeNull();
    expect(cognitiveBackend({ COGNITIVE_URL: undefined, COGNITIVE_MODEL: "@cf/x" }, undefined)).toBeNull();
  });
  it("reads {response: string}, {response: object}, a chat-completions body or a bare string", () => {
    expect(aiAnswerContent({ response: '{"steps":[]}' })).toBe('{"steps":[]}');
    expect(aiAnswerContent({ response: { steps: [] } })).toBe('{"steps":[]}');
    expect(aiAnswerContent({ choices: [{ message: { content: "x" } }] })).toBe("x");
    expect(aiAnswerContent("y")).toBe("y");
    expect(aiAnswerContent({ usage: {} })).toBeUndefined();
    expect(aiAnswerContent(null)).toBeUndefined();
  });
});

describe("binding services", () => {
  it("send the request to env[binding].fetch, under the binding's own host", async () => {
    resetServices();
    const seen: string[] = [];
    const env = { SEARCH: { fetch: async (req: Request) => (seen.push(req.url), Response.json({ hit: true })) } } as unknown as Env;
    const call: CallContext = { signal: new AbortController().signal, deadline: Date.now() + 10_000, now: Date.now, random: () => 0.5, sleep: async () => undefined };
    const services = servicesFor({ search: serviceSpecSchema.parse({ binding: "SEARCH" }) }, env, call);
    expect(await services["search"]?.json("/q?x=1")).toEqual({ hit: true });
    expect(seen).toEqual(["https://search.service/q?x=1"]);
    const missing = servicesFor({ gone: serviceSpecSchema.parse({ binding: "NOPE" }) }, env, call);
    await expect(missing["gone"]?.fetch("/")).rejects.toBeInstanceOf(PermanentError);
  });
});
