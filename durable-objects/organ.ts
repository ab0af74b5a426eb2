import { DurableObject } from "cloudflare:workers";
import { agentScore, memUtil, pickBestAgent, QUALITY_WINDOW, ROLE_PROBS, TASK_HISTORY, updateCapability } from "../src/organism/agent-scoring";
import type { GroupReply, OrganInitSpec, OrganSummary, RunReport } from "../src/organism/organ-contracts";
import { agentsOfReplica, replicaName } from "../src/organism/replicas";
import type { Remote } from "../src/lib/remote";
import { errorMessage } from "../src/lib/error-message";
import { requireConfig } from "../src/config";
import { definitionFor } from "../src/tasks/registry";
import { isolateServiceStats, type IsolateServiceStats } from "../src/services/registry";
import { runTask, type RunControl, type TaskWork } from "../src/tasks/run-task";
import { DeadlineWatch } from "../src/lib/deadline-watch";
import { storedChannel, unstoredChannel } from "../src/tasks/task-channel";
import { mergeIn, rehome, sendShipments } from "./agent-handoff";
import {
  ensureSchema, insertRecords, lastReceived, loadAgents, loadMeta, newAgent, pruneRecords,
  recentRecords, runsOf, saveAgent, saveMeta, saveReceived, type AgentState, type OrganMeta, type Shipment, type TaskRecord,
} from "./agent-store";

/** Injected time source: task code gets `ctx.now()` / `ctx.sleep()` from it, so tests control time. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
    }),
};

/** A group's answer waits this long after its first report for the ones about to follow. */
const GROUP_COALESCE_MS = 5;
/** A group whose reports nobody collects (its dispatcher died) is dropped after this long. */
const GROUP_TTL_MS = 15 * 60 * 1000;

interface RunningGroup {
  reports: RunReport[];
  remaining: number;
  at: number;
  changed: () => void;
}

/** Outcomes applied to agents in memory, to be written in one transaction. */
interface Unwritten {
  records: TaskRecord[];
  /** The agents they changed, strays (agents that left this replica) included. */
  agents: Set<AgentState>;
  strays: boolean;
}

/** Agent outcomes are written at most once this often while tasks run (see recordSoon). */
const RECORD_COALESCE_MS = 50;

/** An agent hand-off that could not be delivered is tried again this much later, by the alarm, until it is. */
export const HANDOFF_RETRY_MS = 5_000;

/**
 * One replica of an organ: a partition of the organ's agents that run tasks through the handler
 * registry. Agent state lives in this object's SQLite storage and is mirrored in memory; a batch
 * is written in one transaction.
 */
export class Organ extends DurableObject<Env> {
  private meta: OrganMeta | undefined;
  private agents: AgentState[] = [];
  /** Runs in progress here, by task id: cancel and a lost lease abort their signal. */
  private readonly running = new Map<string, RunControl>();
  private readonly deadlines = new DeadlineWatch();
  /** Outcomes applied to the agents in memory and not yet written (see recordSoon). */
  private unwritten: Unwritten = { records: [], agents: new Set(), strays: false };
  private recordTimer: ReturnType<typeof setTimeout> | null = null;
  private recordedAt = 0;
  private readonly groups = new Map<string, RunningGroup>();
  /** Overridable so tests can run tasks against a fixed clock. */
  clock: Clock = systemClock;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // SQLite calls are synchronous, so loading needs no blockConcurrencyWhile.
    ensureSchema(ctx.storage.sql);
    this.meta = loadMeta(ctx.storage.sql);
    this.agents = loadAgents(ctx.storage.sql);
  }

  /**
   * Idempotent: takes the organ's layout as of `spec.epoch`, creates this replica's missing agents
   * and keeps existing ones (and what they learned). Agents another replica owns now leave for it
   * through the outbox, sent by `deliver` once every replica has the layout; an agent created here
   * while its state was on the way is merged with it on arrival.
   */
  initialize(spec: OrganInitSpec): OrganSummary {
    this.flushRecords();
    const sql = this.ctx.storage.sql;
    const roleProbs = ROLE_PROBS[spec.organ_type];
    const meta: OrganMeta = {
      organ_id: spec.organ_id, organ_type: spec.organ_type, task_types: spec.task_types, replica: spec.replica,
      replicas: spec.replicas, agent_count: spec.agent_count, epoch: spec.epoch,
    };
    this.ctx.storage.transactionSync(() => {
      saveMeta(sql, meta);
      const present = new Set(loadAgents(sql).map((a) => a.idx));
      for (const idx of agentsOfReplica(spec.agent_count, spec.replicas, spec.replica)) if (!present.has(idx)) saveAgent(sql, newAgent(spec.organ_id, idx, roleProbs));
      rehome(sql, meta);
    });
    this.meta = meta;
    this.agents = loadAgents(sql);
    return this.getSummary();
  }

  /**
   * Sends the outbox, each destination's shipments in order. A destination still on an older
   * layout, or unreachable, keeps its shipments here for the alarm: resolves to those, with why.
   */
  deliver(): Promise<string[]> {
    return this.deliverOrRetry();
  }

  /**
   * Shipments from replica `source`: each merged in once (a shipment sent again is skipped), and
   * passed on if the layout has moved the agent further. False, taking nothing, while this
   * replica is on an older layout than a shipment: it cannot yet tell who owns the agent.
   */
  async receive(source: string, shipments: Shipment[]): Promise<boolean> {
    this.flushRecords();
    const meta = this.meta;
    if (!meta || shipments.some((s) => s.epoch > meta.epoch)) return false;
    const sql = this.ctx.storage.sql;
    const onward = this.ctx.storage.transactionSync(() => {
      const seen = lastReceived(sql, source);
      for (const s of shipments) if (s.seq > seen) mergeIn(sql, s);
      saveReceived(sql, source, Math.max(seen, ...shipments.map((s) => s.seq)));
      return rehome(sql, meta);
    });
    this.agents = loadAgents(sql);
    if (onward) await this.deliverOrRetry();
    return true;
  }

  /** The backstop for shipments that could not be delivered at once. */
  override async alarm(): Promise<void> {
    await this.deliverOrRetry();
  }

  /**
   * Runs one task's code on the best agent, with its context (bindings, deadline signal, progress,
   * steps), and records the agent's outcome. One task per call: each outcome goes back as soon as
   * its task ends, and each call is its own request (its own outgoing connections).
   */
  async run(work: TaskWork): Promise<RunReport> {
    const meta = this.meta;
    if (!meta || this.agents.length === 0) {
      const verdict = { ok: false as const, retriable: true, error: "organ is not initialized" };
      return { task_id: work.id, verdict, organ_id: "uninitialized", replica: 0, agent_id: null, latency_ms: 0, not_run: true };
    }
    const agent = pickBestAgent(this.agents) as AgentState;
    const started = this.clock.now();
    const control: RunControl = {};
    this.running.set(work.id, control);
    const { token } = work;
    let verdict: RunReport["verdict"];
    try {
      const config = requireConfig(this.env);
      verdict = await runTask(definitionFor(work.type, config), work, {
        env: this.env,
        channel: token === null ? unstoredChannel() : storedChannel(this.env, { ...work, token }),
        now: () => this.clock.now(),
        sleep: (ms, signal) => this.clock.sleep(ms, signal),
        resultMaxBytes: config.RESULT_MAX_BYTES,
        control,
        watchDeadline: (at, expire) => this.deadlines.watch(at, expire),
        services: config.SERVICES,
      });
    } catch (err) {
      verdict = { ok: false, retriable: true, error: `task '${work.type}' could not run: ${errorMessage(err)}` };
    } finally {
      if (this.running.get(work.id) === control) this.running.delete(work.id);
    }
    const latency_ms = Math.max(0, this.clock.now() - started);
    this.recordSoon({
      agent,
      record: {
        agent_id: agent.agent_id, task_id: work.id, task_type: work.type, success: verdict.ok || verdict.handOff !== undefined,
        quality: verdict.ok || verdict.handOff !== undefined ? 1 : 0, latency_ms, error: verdict.ok ? null : verdict.error, at: this.clock.now(),
      },
    });
    return { task_id: work.id, verdict, organ_id: meta.organ_id, replica: meta.replica, agent_id: agent.agent_id, latency_ms };
  }

  /**
   * Applies a run's outcome to its agent at once (the next pick sees it), and writes it with the
   * others of its moment: at once when the organ is idle and wrote none in the last
   * RECORD_COALESCE_MS, else when that time is up. Under load that is one transaction per 50 ms,
   * not one per group of tasks: the transactions, not the rows, were ≈ 13 % of the bulk path's
   * CPU. An eviction inside that window loses the agents' newest counts, never a task's outcome
   * (that is the dispatcher's, in D1). An outcome of an agent that moved away is written and
   * shipped at once.
   */
  private recordSoon(run: { agent: AgentState; record: TaskRecord }): void {
    this.apply(run);
    // An outcome of an agent that left (the layout changed while it ran) goes to its new owner at
    // once: this replica may not be asked again.
    if (this.unwritten.strays) return this.flushRecords();
    // One timer at a time, cleared by any flush: a timer per burst, left to fire after its burst
    // was written, piled up past the runtime's 10,000 active timeouts under a 100k backlog.
    if (this.recordTimer !== null) return;
    const wait = this.recordedAt + RECORD_COALESCE_MS - Date.now();
    if (wait <= 0 && this.running.size === 0) this.flushRecords();
    else this.recordTimer = setTimeout(() => this.flushRecords(), Math.max(wait, 1));
  }

  /**
   * The capability update of one outcome, on the agent in memory. An agent that left this replica
   * while its task ran gets it on a fresh copy, written here and shipped to its owner to be merged.
   */
  private apply({ agent: picked, record: r }: { agent: AgentState; record: TaskRecord }): void {
    const meta = this.meta;
    if (!meta) return;
    let agent = this.agents.find((a) => a.agent_id === r.agent_id) ?? [...this.unwritten.agents].find((a) => a.agent_id === r.agent_id);
    if (!agent) {
      agent = newAgent(meta.organ_id, picked.idx, picked.role_probs);
      this.unwritten.strays = true;
    }
    agent.capability = updateCapability(agent.capability, r.success, r.quality);
    agent.tasks_processed++;
    if (r.success) agent.successes++;
    else agent.failures++;
    agent.quality_scores = [...agent.quality_scores, r.quality].slice(-QUALITY_WINDOW);
    agent.history_size = Math.min(TASK_HISTORY, agent.history_size + 1);
    agent.mem_util = memUtil(agent.history_size);
    agent.last_task_at = r.at;
    this.unwritten.agents.add(agent);
    this.unwritten.records.push(r);
  }

  /** Writes the applied outcomes now (also before any read of the agents' storage, so reads see every run). */
  private flushRecords(): void {
    if (this.recordTimer !== null) clearTimeout(this.recordTimer);
    this.recordTimer = null;
    const { records, agents, strays } = this.unwritten;
    const meta = this.meta;
    if (records.length === 0 || !meta) return;
    this.unwritten = { records: [], agents: new Set(), strays: false };
    this.recordedAt = Date.now();
    try {
      const sql = this.ctx.storage.sql;
      this.ctx.storage.transactionSync(() => {
        insertRecords(sql, records);
        for (const agent of agents) {
          saveAgent(sql, agent);
          pruneRecords(sql, agent.agent_id);
        }
        // The layout may have changed since: strays go to their owners.
        if (strays) rehome(sql, meta);
      });
      if (strays) void this.deliverOrRetry();
    } catch (err) {
      console.error("agent outcomes could not be recorded", err);
    }
  }

  /**
   * Runs a group of tasks at once (at most ORGAN_CALL_TASKS: one request's outgoing connections,
   * one each) and answers as soon as one has ended, with every report ready within
   * GROUP_COALESCE_MS of it; `next` names the group while tasks still run, for `collect`. A group
   * of short tasks is one call; a slow task holds back no other's report.
   */
  runGroup(works: TaskWork[]): Promise<GroupReply> {
    const now = Date.now();
    for (const [key, g] of this.groups) if (now - g.at > GROUP_TTL_MS) this.groups.delete(key);
    const key = crypto.randomUUID();
    const group: RunningGroup = { reports: [], remaining: works.length, at: now, changed: () => undefined };
    this.groups.set(key, group);
    for (const work of works) {
      void this.run(work).then((report) => {
        group.reports.push(report);
        group.remaining--;
        group.changed();
      });
    }
    return this.nextReports(key);
  }

  /** The next reports of a group `runGroup` answered with `next` (waits for at least one). */
  collect(key: string): Promise<GroupReply> {
    return this.nextReports(key);
  }

  private async nextReports(key: string): Promise<GroupReply> {
    const group = this.groups.get(key);
    if (!group) return { reports: [], next: null };
    const changed = () => new Promise<void>((resolve) => (group.changed = resolve));
    while (group.reports.length === 0 && group.remaining > 0) await changed();
    // Give the reports about to follow a moment to come along, unless none is left to come.
    if (group.remaining > 0) {
      // One timer for the whole wait, cleared when it ends (not one per report that wakes it).
      let timer: ReturnType<typeof setTimeout> | null = null;
      let waited = false;
      const over = new Promise<void>((resolve) => (timer = setTimeout(() => ((waited = true), resolve()), GROUP_COALESCE_MS)));
      while (group.remaining > 0 && !waited) await Promise.race([changed(), over]);
      clearTimeout(timer);
    }
    const reports = group.reports.splice(0);
    if (group.remaining === 0) this.groups.delete(key);
    return { reports, next: group.remaining === 0 ? null : key };
  }

  /** Aborts the signal of these tasks' runs here (cancelled, or their lease was lost); the ids running here. */
  abort(taskIds: string[]): string[] {
    const aborted: string[] = [];
    for (const id of taskIds) {
      const run = this.running.get(id);
      if (!run?.stop) continue;
      run.stop(new Error("cancelled or its lease was lost"));
      aborted.push(id);
    }
    return aborted;
  }

  /**
   * This isolate's named service clients (ctx.services of the tasks run here, and of any other
   * replica sharing the isolate): counts and breaker, with the isolate's id so a reader adds each
   * isolate once. For /metrics and GET /organism/status (src/clients/organ-service-stats.ts).
   */
  getServiceStats(): IsolateServiceStats {
    return isolateServiceStats();
  }

  getSummary(): OrganSummary {
    this.flushRecords();
    const meta = this.meta;
    return {
      organ_id: meta?.organ_id ?? "uninitialized",
      organ_type: meta?.organ_type ?? "Utility",
      replica: meta?.replica ?? 0,
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
    this.flushRecords();
    return recentRecords(this.ctx.storage.sql, agentId, Math.min(limit, TASK_HISTORY));
  }

  /** How often this replica ran `taskId` (within the kept history). */
  runsOf(taskId: string): number {
    this.flushRecords();
    return runsOf(this.ctx.storage.sql, taskId);
  }

  /**
   * Sends the outbox now; what does not go stays for the alarm, HANDOFF_RETRY_MS later. Never
   * throws (callers have already recorded their work): resolves to what failed.
   */
  private async deliverOrRetry(): Promise<string[]> {
    const failed = await this.send().catch((err: unknown) => [errorMessage(err)]);
    if (failed.length > 0) await this.ctx.storage.setAlarm(Date.now() + HANDOFF_RETRY_MS);
    return failed;
  }

  /** Sends each destination its shipments; the destinations (with the reason) that did not take them. */
  private send(): Promise<string[]> {
    const meta = this.meta;
    if (!meta) return Promise.resolve([]);
    const peer = (name: string) => this.env.ORGAN.get(this.env.ORGAN.idFromName(name)) as unknown as Remote<Pick<Organ, "receive">>;
    return sendShipments(this.ctx.storage.sql, replicaName(meta.organ_id, meta.replica), peer);
  }
}
