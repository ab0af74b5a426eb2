import type { Config } from "../config";
import { errorMessage } from "../lib/error-message";
import { createServiceClient, type Transport } from "../services/service-client";
import { serviceState } from "../services/registry";
import { RESERVED_SERVICE, type ServiceSpec } from "../services/service-spec";
import { DeferredError } from "../tasks/errors";
import { taskDefinitions } from "../tasks/registry";
import { planEscalation, validatePlan, type Plan, type PlannerInput } from "./planner";
import { resolveRoute } from "./routing";

/**
 * The cognitive planner (DESIGN §16): escalation plans from an OpenAI-compatible chat-completions
 * endpoint (COGNITIVE_URL, model COGNITIVE_MODEL, key COGNITIVE_API_KEY) or, without COGNITIVE_URL,
 * from a Workers AI binding (`env.AI.run(COGNITIVE_MODEL, {messages})`; needs COGNITIVE_MODEL set),
 * both through the named service client "cognitive" (timeout COGNITIVE_TIMEOUT_S, its own
 * breaker, the same counts): the binding is wrapped as that client's transport. At most
 * COGNITIVE_MAX_INFLIGHT calls at once per isolate. The answer must be JSON
 * `{steps: [{organ_id, task: {type, params}}]}` naming known organs and types with valid params;
 * anything else (or a timeout, an open breaker, too many calls at once) yields the deterministic
 * planner's plan with a `fallback_reason`.
 */

export const COGNITIVE_SERVICE = RESERVED_SERVICE;

export type CognitiveFallback = "invalid_json" | "invalid_plan" | "timeout" | "breaker_open" | "busy" | "error";

export interface CognitiveStats {
  /** Plans the LLM made (plan_source "llm"). */
  llm_plans: number;
  /** Times the deterministic planner stood in, by why. */
  fallbacks: Record<CognitiveFallback, number>;
  inflight: number;
}

const stats: CognitiveStats = { llm_plans: 0, fallbacks: { invalid_json: 0, invalid_plan: 0, timeout: 0, breaker_open: 0, busy: 0, error: 0 }, inflight: 0 };

/** This isolate's cognitive planner counts (per isolate, like the breakers). */
export function cognitiveStats(): CognitiveStats {
  return { ...stats, fallbacks: { ...stats.fallbacks } };
}

export type CognitiveConfig = Pick<Config, "COGNITIVE_URL" | "COGNITIVE_MODEL" | "COGNITIVE_API_KEY" | "COGNITIVE_TIMEOUT_S" | "COGNITIVE_MAX_INFLIGHT" | "CB_FAILURE_THRESHOLD" | "CB_RECOVERY_S">;

/** What the planner needs of a Workers AI binding (`Ai` from workers-types has this method). */
export interface AiBinding {
  run(model: string, inputs: Record<string, unknown>): Promise<unknown>;
}

/** The model named in a chat-completions request when COGNITIVE_MODEL is unset. */
export const DEFAULT_OPENAI_MODEL = "gpt-4o-mini";
/** Workers AI text models answer 256 tokens unless told; a plan needs more. */
export const AI_MAX_TOKENS = 1024;

export type CognitiveBackend = { kind: "url"; url: string } | { kind: "ai"; ai: AiBinding; model: string };

/**
 * Where plans come from: COGNITIVE_URL wins when set; else a Workers AI binding when one is bound
 * and COGNITIVE_MODEL is set (an explicit model: no default is a Workers AI model); else nowhere
 * (null: the deterministic planner).
 */
export function cognitiveBackend(config: Pick<Config, "COGNITIVE_URL" | "COGNITIVE_MODEL">, ai: AiBinding | undefined): CognitiveBackend | null {
  if (config.COGNITIVE_URL) return { kind: "url", url: config.COGNITIVE_URL };
  if (ai && typeof ai.run === "function" && config.COGNITIVE_MODEL) return { kind: "ai", ai, model: config.COGNITIVE_MODEL };
  return null;
}

/** A Workers AI answer as chat-completions content: `{response: string}`, `{response: object}` (JSON mode), a chat-completions body, or a bare string. */
export function aiAnswerContent(answer: unknown): string | undefined {
  if (typeof answer === "string") return answer;
  if (answer === null || typeof answer !== "object") return undefined;
  const response = (answer as { response?: unknown }).response;
  if (typeof response === "string") return response;
  if (response !== null && typeof response === "object") return JSON.stringify(response);
  const content = (answer as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message?.content;
  return typeof content === "string" ? content : undefined;
}

/**
 * A Workers AI binding as the cognitive client's transport: the chat-completions request's
 * messages go to `ai.run(model, …)`, the answer comes back as a chat-completions body. The
 * binding takes no signal, so the call is raced against the request's (the client's timeout and
 * the deadline abort it); a late answer is dropped. A throw is a failed try (the breaker counts it).
 */
export function aiTransport(ai: AiBinding, model: string): Transport {
  return async (request) => {
    const sent = (await request.json()) as { messages: unknown };
    const signal = request.signal;
    signal.throwIfAborted();
    let onAbort = (): void => undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const answer = await Promise.race([ai.run(model, { messages: sent.messages, temperature: 0, max_tokens: AI_MAX_TOKENS }), aborted]);
      const content = aiAnswerContent(answer);
      return Response.json(content === undefined ? { error: "the Workers AI answer has no response text" } : { choices: [{ message: { content } }] });
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  };
}

export interface CognitiveDeps {
  now(): number;
  random(): number;
  /** The pass's deadline (epoch ms): the call ends by then. */
  deadline?: number;
  /** Default: the global fetch (COGNITIVE_URL) or the AI binding's transport. */
  transport?: Transport;
  /** The Workers AI binding (`env.AI`), used when COGNITIVE_URL is unset and COGNITIVE_MODEL set. */
  ai?: AiBinding;
}

/** The cognitive service's spec: no retries (the fallback is the retry), the breaker of CB_*. */
export function cognitiveSpec(config: CognitiveConfig, backend: CognitiveBackend | null = cognitiveBackend(config, undefined)): ServiceSpec {
  return {
    ...(backend?.kind === "ai" ? { binding: "AI" } : { url: config.COGNITIVE_URL as string }),
    timeout_s: config.COGNITIVE_TIMEOUT_S,
    retries: 0,
    breaker: { failures: config.CB_FAILURE_THRESHOLD, recovery_s: config.CB_RECOVERY_S },
    headers: {},
  };
}

/** The chat messages: the known types (with their organs) and organs, the format, the task. */
export function cognitivePrompt(input: PlannerInput): { role: "system" | "user"; content: string }[] {
  const types = taskDefinitions().map((d) => ({ type: d.type, organ: resolveRoute(input.routing, d.type) ?? null, description: d.description ?? null }));
  const system = [
    "You plan how a task queue runs a task that needs more than one step.",
    'Answer with JSON only, no prose: {"steps":[{"organ_id":"<organ>","task":{"type":"<type>","params":{}}}]}.',
    `At most ${input.maxSteps} steps. Use only these organs: ${JSON.stringify([...input.knownOrgans])}.`,
    `Use only these task types (with the organ that usually runs each): ${JSON.stringify(types)}.`,
    "The last step's result is the task's result.",
  ].join("\n");
  const { task } = input;
  const user = JSON.stringify({ type: task.type, description: task.description, domain: task.domain, params: task.params, routed_organ: input.routedOrganId });
  return [
    { role: "system", content: system },
    { role: "user", content: user },
  ];
}

/** The plan in a chat-completions answer, or why it is not one. */
export function parseCognitiveAnswer(body: unknown, input: PlannerInput): { ok: true; plan: Plan } | { ok: false; reason: CognitiveFallback; error: string } {
  const content = (body as { choices?: { message?: { content?: unknown } }[] } | null)?.choices?.[0]?.message?.content;
  if (typeof content !== "string") {
    const error = (body as { error?: unknown } | null)?.error;
    return { ok: false, reason: "invalid_json", error: typeof error === "string" ? error : "the answer has no choices[0].message.content" };
  }
  const text = content.trim().replace(/^```(?:json)?\s*/i, "").replace(/```$/, "").trim();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, reason: "invalid_json", error: `the answer is not JSON: ${JSON.stringify(text.slice(0, 80))}` };
  }
  const steps = (parsed as { steps?: unknown } | null)?.steps;
  const checked = validatePlan(steps, input.knownOrgans, input.maxSteps);
  if (!checked.ok) return { ok: false, reason: "invalid_plan", error: checked.error.replace(/params\.plan/g, "steps") };
  const defs = new Map(taskDefinitions().map((d) => [d.type, d]));
  for (const [i, step] of checked.steps.entries()) {
    const def = defs.get(step.task.type);
    if (!def) return { ok: false, reason: "invalid_plan", error: `steps[${i}] names unknown task type '${step.task.type}'` };
    const params = def.params.safeParse(step.task.params);
    if (!params.success) return { ok: false, reason: "invalid_plan", error: `steps[${i}] has invalid params for '${step.task.type}': ${params.error.issues[0]?.message ?? "invalid"}` };
  }
  return { ok: true, plan: { plan_source: "llm", steps: checked.steps } };
}

function fallback(input: PlannerInput, reason: CognitiveFallback, error: string): Plan {
  stats.fallbacks[reason]++;
  return { ...planEscalation(input), fallback_reason: `cognitive planner (${reason}): ${error}` };
}

/**
 * A plan from the cognitive service, or the deterministic planner's with the reason. Never throws.
 * A caller-supplied params.plan still wins (the deterministic planner takes it).
 */
export async function cognitivePlan(input: PlannerInput, config: CognitiveConfig, deps: CognitiveDeps): Promise<Plan> {
  if (input.task.params["plan"] !== undefined) return planEscalation(input);
  const backend = cognitiveBackend(config, deps.ai);
  if (!backend) return planEscalation(input);
  if (stats.inflight >= config.COGNITIVE_MAX_INFLIGHT) return fallback(input, "busy", `COGNITIVE_MAX_INFLIGHT (${config.COGNITIVE_MAX_INFLIGHT}) calls already running`);
  const spec = cognitiveSpec(config, backend);
  const key = backend.kind === "url" ? config.COGNITIVE_API_KEY : undefined;
  const base = backend.kind === "url" ? backend.url : "https://workers-ai.binding/v1";
  const transport = deps.transport ?? (backend.kind === "url" ? (r: Request) => fetch(r) : aiTransport(backend.ai, backend.model));
  const client = createServiceClient(COGNITIVE_SERVICE, spec, base, (): Record<string, string> => (key ? { authorization: `Bearer ${key}` } : {}), transport, serviceState(COGNITIVE_SERVICE, spec, deps.now), {
    signal: new AbortController().signal,
    deadline: Math.min(deps.deadline ?? Infinity, deps.now() + config.COGNITIVE_TIMEOUT_S * 1000),
    now: deps.now,
    random: deps.random,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  });
  stats.inflight++;
  try {
    const body = await client.json("chat/completions", {
      method: "POST",
      body: { model: config.COGNITIVE_MODEL ?? DEFAULT_OPENAI_MODEL, messages: cognitivePrompt(input), temperature: 0, response_format: { type: "json_object" } },
    });
    const answer = parseCognitiveAnswer(body, input);
    if (!answer.ok) return fallback(input, answer.reason, answer.error);
    stats.llm_plans++;
    return answer.plan;
  } catch (err) {
    if (err instanceof DeferredError) return fallback(input, "breaker_open", errorMessage(err));
    const message = errorMessage(err);
    return fallback(input, /timed out|deadline/.test(message) ? "timeout" : "error", message);
  } finally {
    stats.inflight--;
  }
}
