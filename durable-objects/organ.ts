import { DurableObject } from "cloudflare:workers";
import { agentScore, memUtil, pickBestAgent, QUALITY_WINDOW, ROLE_PROBS, TASK_HISTORY, updateCapability } from "./agents";
import { ensureSchema, insertRecord, loadAgents, loadMeta, newAgent, pruneRecords, recentRecords, saveAgent, saveMeta, type AgentState, type OrganMeta, type TaskRecord } from "./agent-store";
import { handlerFor } from "./handlers/registry";
import { systemClock, type Clock, type HandlerResult } from "./handlers/types";
import type { OrganInitSpec, OrganSummary, OrganTask, OrganTaskResult } from "./organ-contracts";
import { errorMessage } from "../src/lib/error-message";

/**
 * One organ: a team of agents that run tasks through the handler registry. Agent state lives in
 * this object's SQLite storage and is mirrored in memory; a batch is written in one transaction.
 */
export class Organ extends DurableObject<Env> {
  private meta: OrganMeta | undefined;
  private agents: AgentState[] = [];
  /** Overridable so tests can run handlers against a fixed clock. */
  clock: Clock = systemClock;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // SQLite calls are synchronous, so loading needs no blockConcurrencyWhile.
    ensureSchema(ctx.storage.sql);
    this.meta = loadMeta(ctx.storage.sql);
    this.agents = loadAgents(ctx.storage.sql);
  }

  /** Idempotent: creates missing agents, keeps existing ones (and their learned capability). */
  initialize(spec: OrganInitSpec): OrganSummary {
    const sql = this.ctx.storage.sql;
    const roleProbs = ROLE_PROBS[spec.organ_type];
    this.ctx.storage.transactionSync(() => {
      this.meta = { organ_id: spec.organ_id, organ_type: spec.organ_type, task_types: spec.task_types };
      saveMeta(sql, this.meta);
      for (let i = this.agents.length; i < spec.agent_count; i++) {
        const agent = newAgent(spec.organ_id, i, roleProbs);
        saveAgent(sql, agent);
        this.agents.push(agent);
      }
    });
    return this.getSummary();
  }

  /** Runs the tasks concurrently, each on the best agent, then records all outcomes at once. */
  async executeBatch(tasks: OrganTask[]): Promise<OrganTaskResult[]> {
    const meta = this.meta;
    if (!meta || this.agents.length === 0) {
      return tasks.map((t) => ({ task_id: t.id, success: false, organ_id: "uninitialized", agent_id: null, error: "organ is not initialized", retry: true, latency_ms: 0 }));
    }
    // Agents are chosen up front: scores only change when outcomes are recorded below.
    const runs = await Promise.all(
      tasks.map(async (task) => {
        const agent = pickBestAgent(this.agents) as AgentState;
        const started = this.clock.now();
        const outcome = await this.runHandler(task);
        return { task, agent, outcome, latency_ms: Math.max(0, this.clock.now() - started) };
      }),
    );
    const results = runs.map(({ task, agent, outcome, latency_ms }): OrganTaskResult => ({
      task_id: task.id,
      success: outcome.success,
      organ_id: meta.organ_id,
      agent_id: agent.agent_id,
      ...(outcome.result ? { result: outcome.result } : {}),
      ...(outcome.error ? { error: outcome.error } : {}),
      retry: outcome.success ? false : outcome.retry !== false,
      latency_ms,
    }));
    this.record(runs.map(({ task, agent, outcome, latency_ms }) => ({
      agent_id: agent.agent_id, task_id: task.id, task_type: task.type, success: outcome.success,
      quality: outcome.quality ?? (outcome.success ? 1 : 0), latency_ms, error: outcome.error ?? null, at: this.clock.now(),
    })));
    return results;
  }

  getSummary(): OrganSummary {
    const meta = this.meta;
    return {
      organ_id: meta?.organ_id ?? "uninitialized",
      organ_type: meta?.organ_type ?? "Utility",
      initialized: meta !== undefined,
      task_types: meta?.task_types ?? [],
      agent_count: this.agents.length,
      tasks_processed: this.agents.reduce((n, a) => n + a.tasks_processed, 0),
      agents: this.agents.map((a) => ({
        agent_id: a.agent_id,
        role_probs: a.role_probs,
        capability: a.capability,
        mem_util: a.mem_util,
        score: agentScore(a),
        tasks_processed: a.tasks_processed,
        successes: a.successes,
        failures: a.failures,
        avg_quality: a.quality_scores.length ? a.quality_scores.reduce((x, y) => x + y, 0) / a.quality_scores.length : null,
        quality_scores: a.quality_scores,
        last_task_at: a.last_task_at === null ? null : new Date(a.last_task_at).toISOString(),
      })),
    };
  }

  /** The newest task records of one agent (at most TASK_HISTORY), newest first. */
  getAgentHistory(agentId: string, limit = TASK_HISTORY): TaskRecord[] {
    return recentRecords(this.ctx.storage.sql, agentId, Math.min(limit, TASK_HISTORY));
  }

  private async runHandler(task: OrganTask): Promise<HandlerResult> {
    const handler = handlerFor(task.type);
    if (!handler) return { success: false, error: `no handler for task type '${task.type}'`, retry: false };
    try {
      return await handler(task, this.clock);
    } catch (err) {
      // A handler bug or transient failure: retriable, and the message survives for the task row.
      return { success: false, error: `handler '${task.type}' threw: ${errorMessage(err)}`, retry: true };
    }
  }

  /** Applies the capability update per outcome (in task order) and writes everything in one transaction. */
  private record(records: TaskRecord[]): void {
    if (records.length === 0) return;
    const byId = new Map(this.agents.map((a) => [a.agent_id, a]));
    const touched = new Set<AgentState>();
    for (const r of records) {
      const agent = byId.get(r.agent_id);
      if (!agent) continue;
      agent.capability = updateCapability(agent.capability, r.success, r.quality);
      agent.tasks_processed++;
      if (r.success) agent.successes++;
      else agent.failures++;
      agent.quality_scores = [...agent.quality_scores, r.quality].slice(-QUALITY_WINDOW);
      agent.history_size = Math.min(TASK_HISTORY, agent.history_size + 1);
      agent.mem_util = memUtil(agent.history_size);
      agent.last_task_at = r.at;
      touched.add(agent);
    }
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const r of records) insertRecord(sql, r);
      for (const agent of touched) {
        saveAgent(sql, agent);
        pruneRecords(sql, agent.agent_id);
      }
    });
  }
}
