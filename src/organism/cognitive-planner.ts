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
 * endpoint (COGNITIVE_URL, model COGNITIVE_MODEL, key COGNITIVE_API_KEY) through the named service
 * client "cognitive" (timeout COGNITIVE_TIMEOUT_S, its own breaker). At most
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

export interface CognitiveDeps {
  now(): number;
  random(): number;
  /** The pass's deadline (epoch ms): the call ends by then. */
  deadline?: number;
  /** Default: the global fetch. */
  transport?: Transport;
}

/** The cognitive service's spec: no retries (the fallback is the retry), the breaker of CB_*. */
export function cognitiveSpec(config: CognitiveConfig): ServiceSpec {
  return {
    url: config.COGNITIVE_URL as string,
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
  if (typeof content !== "string") return { ok: false, reason: "invalid_json", error: "the answer has no choices[0].message.content" };
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
  if (stats.inflight >= config.COGNITIVE_MAX_INFLIGHT) return fallback(input, "busy", `COGNITIVE_MAX_INFLIGHT (${config.COGNITIVE_MAX_INFLIGHT}) calls already running`);
  const spec = cognitiveSpec(config);
  const key = config.COGNITIVE_API_KEY;
  const client = createServiceClient(COGNITIVE_SERVICE, spec, spec.url as string, (): Record<string, string> => (key ? { authorization: `Bearer ${key}` } : {}), deps.transport ?? ((r) => fetch(r)), serviceState(COGNITIVE_SERVICE, spec, deps.now), {
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
      body: { model: config.COGNITIVE_MODEL, messages: cognitivePrompt(input), temperature: 0, response_format: { type: "json_object" } },
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
