import { DurableObject } from "cloudflare:workers";
import { parseConfig, type Config } from "../src/config";
import { errorMessage } from "../src/lib/error-message";
import type { ControlResult, ControlTask, CoordinatorStatusView, ExecuteResult, OrganismSummary, RoutingDebugQuery } from "../src/organism/control-contracts";
import { applyReport, emptyMetrics, metricsSnapshot, type CoordinatorMetrics } from "../src/organism/coordinator-metrics";
import { READ_ONLY_CONTROL_TYPES, type DecideResult, type DecideTask, type Decision, type OrganismView, type PassReport, type ReadOnlyControlType } from "../src/organism/decisions";
import { initialOcps, pFast, stepOcps, type OcpsState } from "../src/organism/ocps";
import type { RunReport, TaskWork } from "../src/organism/organ-contracts";
import { timeoutOf } from "../src/dispatch/retry-policy";
import { definitionsFor } from "../src/tasks/registry";
import { parseOrganismConfig, type OrganismConfig, type OrganismConfigResult } from "../src/organism/organism-config";
import { replicaName, replicaOf } from "../src/organism/replicas";
import { buildRoutingTable, noRouteError, resolveRoute, routingDebug, type RoutingTable } from "../src/organism/routing";
import type { Remote } from "../src/lib/remote";
import { loadApplied, loadOrganism, loadOverride, loadRuntime, nextEpoch, saveApplied, saveOrganism, saveOverride, saveRuntime } from "./coordinator-store";
import { LoadShedder, overloadedError, type LoadSnapshot } from "./load-shedder";
import type { Organ } from "./organ";
import { initializeOrgans, summarizeOrgan, widestOrgans, type ReplicaRpc } from "./organ-fleet";

/** An organ replica over RPC, typed by its own method signatures (see `Remote`). */
type OrganStub = Remote<Pick<Organ, "initialize" | "deliver" | "getSummary" | "run">>;

type Ready = { config: Config; organism: OrganismConfig; routing: RoutingTable; view: OrganismView };

const READ_ONLY = new Set<string>(READ_ONLY_CONTROL_TYPES);
const PASS_TTL_MS = 240_000;
const passTtlMs = (config: Config) => config.DISPATCH_TIMEOUT_S * 2000;

/**
 * The coordinator (one instance, `idFromName("organism")`): the routing authority. Per pass it
 * takes one `decide` call (ids, types, domains, drift scores — never params or results) and
 * answers at once with a decision per task, keeping the serial OCPS state; the dispatcher runs
 * the organs and `report`s the outcome counts. Control is typed RPC behind /organism/*.
 */
export class OrganismManager extends DurableObject<Env> {
  private status: CoordinatorStatusView["status"] = "initializing";
  private error: string | undefined;
  private ready: Ready | undefined;
  private ocps: OcpsState = initialOcps();
  private metrics: CoordinatorMetrics = emptyMetrics();
  private initializing: Promise<void> | undefined;
  private rotation = 0;
  /** Replaced once the config is read: a pass that never reports stops counting after 2 × DISPATCH_TIMEOUT_S. */
  private shedder = new LoadShedder(PASS_TTL_MS);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Only local loading here: an exception inside the block would reset the object, so catch it.
    void ctx.blockConcurrencyWhile(async () => {
      try {
        this.load();
      } catch (err) {
        this.status = "unhealthy";
        this.error = `failed to load state: ${errorMessage(err)}`;
      }
    });
  }

  ping(): "pong" {
    return "pong";
  }

  async getStatus(): Promise<CoordinatorStatusView> {
    await this.ensureReady();
    return this.statusView();
  }

  /**
   * Load shedding, and the organ replicas' names (so a reader can ask each for its service
   * stats), for GET /organism/status and /metrics. No replicas while the organism is not ready.
   */
  getResilience(): { load: LoadSnapshot; replicas: string[] } {
    const organs = this.ready?.organism.organs ?? [];
    return {
      load: this.shedder.snapshot(this.ready?.config.ORGANISM_MAX_INFLIGHT_TASKS ?? 0),
      replicas: organs.flatMap((o) => Array.from({ length: o.replicas }, (_, r) => replicaName(o.organ_id, r))),
    };
  }

  /**
   * One decision per task, in task order (the OCPS valve is serial). Work past
   * ORGANISM_MAX_INFLIGHT_TASKS is shed; read-only control types are answered by the dispatcher
   * through the control methods and never shed.
   */
  async decide(pass: string, tasks: DecideTask[]): Promise<DecideResult> {
    const work = tasks.filter((t) => !READ_ONLY.has(norm(t.type))).length;
    if (work > 0) await this.ensureReady();
    const ready = this.ready;
    const max = ready?.config.ORGANISM_MAX_INFLIGHT_TASKS ?? 0;
    const admitted = ready ? this.shedder.admit(pass, work, max, Date.now()) : 0;
    let seen = 0;
    let escalations = 0;
    const decisions = tasks.map((task): Decision => {
      const type = norm(task.type);
      if (READ_ONLY.has(type)) {
        this.metrics.control++;
        return { kind: "control", control: type as ReadOnlyControlType };
      }
      if (!ready) return { kind: "refused", retriable: true, not_run: true, error: this.unavailableError() };
      if (seen++ >= admitted) {
        this.metrics.shed++;
        return { kind: "refused", retriable: true, not_run: true, error: overloadedError(this.shedder.snapshot(max).inflight_tasks, max) };
      }
      const organId = resolveRoute(ready.routing, task.type, task.domain);
      if (organId === undefined) {
        this.metrics.unrouted++;
        return { kind: "refused", retriable: false, not_run: false, error: noRouteError(task.type) };
      }
      const { decision, next } = stepOcps(this.ocps, task.drift_score, ready.config.OCPS_DRIFT_THRESHOLD);
      this.ocps = next;
      if (decision.escalate) {
        this.metrics.escalations++;
        const inflight = this.shedder.escalations() + escalations++;
        const limit = ready.config.COGNITIVE_MAX_INFLIGHT;
        return { kind: "escalate", organ_id: organId, p_fast: pFast(next), ...(inflight >= limit ? { fallback_reason: `COGNITIVE_MAX_INFLIGHT (${limit}) reached` } : {}) };
      }
      this.metrics.fast_path++;
      const replicas = ready.organism.organs.find((o) => o.organ_id === organId)?.replicas ?? 1;
      return { kind: "fast", organ_id: organId, replica: replicaOf(task.id, replicas), p_fast: pFast(next) };
    });
    if (escalations > 0) this.shedder.noteEscalations(pass, escalations);
    // One storage write per pass keeps the coordinator cheap at high task rates.
    this.save();
    return { decisions, organism: ready?.view ?? { organs: [], routing: { byType: {}, byTypeDomain: {} } } };
  }

  /** The pass's outcome counts: frees its shed capacity and feeds p_fast's companions and the metrics. */
  report(report: PassReport): void {
    this.shedder.release(report.pass);
    applyReport(this.metrics, report);
    this.save();
  }

  // ── control (typed; the /organism/* routes call these) ────────────────────────────────────

  /**
   * Re-initialises, with `config` when given. A config that does not parse is refused with the
   * reason before anything is stored or torn down, so the running organism stays as it is.
   */
  async initialize(config?: unknown): Promise<ControlResult<CoordinatorStatusView>> {
    await this.initializing;
    if (config !== undefined) {
      const next = this.desiredOrganism(config);
      if (!next.ok) return { ok: false, code: "invalid_params", error: next.error };
      saveOverride(this.ctx.storage.kv, config);
    }
    this.status = "initializing";
    await this.ensureReady();
    const s = this.statusView();
    return s.status === "healthy" ? { ok: true, value: s } : { ok: false, code: "unavailable", error: s.error ?? `organism is ${s.status}` };
  }

  shutdown(): CoordinatorStatusView {
    this.status = "shutdown";
    this.ready = undefined;
    saveOrganism(this.ctx.storage.kv, { status: "shutdown", config: null, error: null });
    return this.statusView();
  }

  async summary(): Promise<ControlResult<OrganismSummary>> {
    const ready = await this.readyOrError();
    if (!ready.ok) return ready;
    const organs = await Promise.all(ready.value.organism.organs.map((o) => summarizeOrgan(o, (name) => this.replicaRpc(name))));
    return { ok: true, value: { organism_initialized: true, organs: Object.fromEntries(organs.map((o) => [o.organ_id, o])), metrics: this.metricsView() } };
  }

  metricsView(): Record<string, unknown> {
    return metricsSnapshot(this.metrics, this.ocps, this.ready?.config.OCPS_DRIFT_THRESHOLD ?? 0.5);
  }

  /** Where a task would go and whether it would escalate, without moving S. */
  async routingDebug(q: RoutingDebugQuery): Promise<ControlResult<Record<string, unknown>>> {
    if (typeof q.task_type !== "string" || q.task_type.trim() === "") return { ok: false, code: "invalid_params", error: "invalid params: task_type is required" };
    const ready = await this.readyOrError();
    if (!ready.ok) return ready;
    const { routing, config } = ready.value;
    return { ok: true, value: routingDebug(routing, this.ocps, config.OCPS_DRIFT_THRESHOLD, q.task_type, q.domain ?? null, q.drift_score ?? 0) };
  }

  async executeOn(organId: string, task: ControlTask): Promise<ControlResult<ExecuteResult>> {
    const ready = await this.readyOrError();
    if (!ready.ok) return ready;
    const spec = ready.value.organism.organs.find((o) => o.organ_id === organId);
    if (!spec) return { ok: false, code: "unknown_organ", error: `unknown organ '${organId}'` };
    return this.runOne(spec.organ_id, spec.replicas, task, ready.value.config);
  }

  /** Deterministic stand-in for "random": rotates through the organs. */
  async executeOnRandom(task: ControlTask): Promise<ControlResult<ExecuteResult>> {
    const ready = await this.readyOrError();
    if (!ready.ok) return ready;
    const organs = ready.value.organism.organs;
    const spec = organs[this.rotation++ % organs.length];
    if (!spec) return { ok: false, code: "unavailable", error: "the organism has no organs" };
    return this.runOne(spec.organ_id, spec.replicas, task, ready.value.config);
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────────

  private async runOne(organId: string, replicas: number, task: ControlTask, config: Config): Promise<ControlResult<ExecuteResult>> {
    const id = crypto.randomUUID();
    const replica = replicaOf(id, replicas);
    const work: TaskWork = {
      id, type: task.type, params: task.params, description: task.description, domain: task.domain, attempt: 1,
      token: null, deadline: Date.now() + timeoutOf(task.type, config) * 1000, parents: null, last_heartbeat: null,
    };
    let r: RunReport;
    try {
      r = await this.organStub(replicaName(organId, replica)).run(work);
    } catch (err) {
      return { ok: false, code: "unavailable", error: `organ '${organId}' unavailable: ${errorMessage(err)}` };
    }
    const { verdict } = r;
    return {
      ok: true,
      value: {
        success: verdict.ok, organ_id: organId, replica, agent_id: r.agent_id, latency_ms: r.latency_ms, result: verdict.ok ? verdict.result : null,
        retriable: verdict.ok ? false : verdict.retriable, ...(verdict.ok ? {} : { error: verdict.error }),
      },
    };
  }

  private organStub(name: string): OrganStub {
    return this.env.ORGAN.get(this.env.ORGAN.idFromName(name)) as unknown as OrganStub;
  }

  private replicaRpc(name: string): ReplicaRpc {
    return this.organStub(name);
  }

  private save(): void {
    saveRuntime(this.ctx.storage.kv, { ocps: this.ocps, metrics: this.metrics });
  }

  /** Reads persisted state and config; reuses the persisted organism when its config is unchanged. */
  private load(): void {
    const kv = this.ctx.storage.kv;
    ({ ocps: this.ocps, metrics: this.metrics } = loadRuntime(kv));
    const saved = loadOrganism(kv);
    if (saved?.status === "shutdown") {
      this.status = "shutdown";
      return;
    }
    const app = parseConfig(this.env);
    const organism = this.desiredOrganism();
    if (!app.ok || !organism.ok) return this.fail(app.ok ? (organism.ok ? "" : organism.error) : app.error);
    this.shedder = new LoadShedder(passTtlMs(app.config));
    if (saved?.status === "healthy" && JSON.stringify(saved.config) === JSON.stringify(organism.config)) {
      this.markHealthy(app.config, organism.config);
    }
  }

  /**
   * The organism config that `override` (by default the stored one) leads to: a given config wins;
   * none, or "" / null (which clear the stored one), falls back to ORGANISM_CONFIG.
   */
  private desiredOrganism(override: unknown = loadOverride(this.ctx.storage.kv)): OrganismConfigResult {
    const cleared = override === undefined || override === null || override === "";
    return cleared ? parseOrganismConfig(this.env.ORGANISM_CONFIG) : parseOrganismConfig(override, "config");
  }

  /** Shared by every caller that finds the organism not ready: one init at a time, retried on the next call. */
  private async ensureReady(): Promise<boolean> {
    if (this.status !== "healthy" && this.status !== "shutdown") {
      this.initializing ??= this.init().finally(() => (this.initializing = undefined));
      await this.initializing;
    }
    return this.status === "healthy";
  }

  private async readyOrError(): Promise<ControlResult<Ready>> {
    await this.ensureReady();
    return this.ready ? { ok: true, value: this.ready } : { ok: false, code: "unavailable", error: this.unavailableError() };
  }

  private async init(): Promise<void> {
    this.status = "initializing";
    const app = parseConfig(this.env);
    if (!app.ok) return this.fail(app.error);
    const organism = this.desiredOrganism();
    if (!organism.ok) return this.fail(organism.error);
    const kv = this.ctx.storage.kv;
    const applied = loadApplied(kv)?.organs ?? [];
    const failed = await initializeOrgans(organism.config.organs, applied, (name) => this.replicaRpc(name), nextEpoch(kv, Date.now()));
    if (failed) {
      saveApplied(kv, { ...organism.config, organs: widestOrgans(applied, organism.config.organs) });
      return this.fail(failed);
    }
    saveApplied(kv, organism.config);
    this.shedder = new LoadShedder(passTtlMs(app.config));
    this.markHealthy(app.config, organism.config);
    saveOrganism(kv, { status: "healthy", config: organism.config, error: null });
  }

  private markHealthy(config: Config, organism: OrganismConfig): void {
    const routing = buildRoutingTable(organism, definitionsFor(config));
    this.ready = { config, organism, routing, view: { organs: organism.organs.map((o) => ({ organ_id: o.organ_id, replicas: o.replicas })), routing } };
    this.status = "healthy";
    this.error = undefined;
  }

  private fail(error: string): void {
    this.status = "unhealthy";
    this.error = error;
    this.ready = undefined;
    saveOrganism(this.ctx.storage.kv, { status: "unhealthy", config: null, error });
  }

  private unavailableError(): string {
    return `organism is ${this.status}${this.error ? `: ${this.error}` : ""}`;
  }

  private statusView(): CoordinatorStatusView {
    return {
      status: this.status,
      organism_initialized: this.status === "healthy",
      organs: this.ready?.organism.organs ?? [],
      ...(this.error ? { error: this.error } : {}),
    };
  }
}

const norm = (type: string) => type.trim().toLowerCase();
