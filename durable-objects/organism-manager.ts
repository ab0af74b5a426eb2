import { DurableObject } from "cloudflare:workers";
import { parseConfig, type Config } from "../src/config";
import type { TaskEnvelope, TaskOutcome } from "../src/contracts";
import { CONTROL_TYPES, runControl, type ControlHost, type CoordinatorStatusView } from "./control";
import { loadOrganism, loadOverride, loadRuntime, saveOrganism, saveOverride, saveRuntime } from "./coordinator-store";
import { initializeOrgans } from "./organ-init";
import { countOutcome, emptyMetrics, metricsSnapshot, type CoordinatorMetrics } from "./metrics";
import { initialOcps, pFast, stepOcps, type OcpsState } from "./ocps";
import type { OrganTask, OrganTaskResult } from "./organ-contracts";
import { parseOrganismConfig, type OrganismConfig, type OrganismConfigResult } from "./organism-config";
import { buildRoutingTable, noRouteError, resolveRoute, routingDebug, type RoutingTable } from "./routing";
import { escalate, runFastGroup } from "./task-paths";
import { LoadShedder, overloadedError, type LoadSnapshot } from "./load-shedder";
import { breakerSnapshot, organBreakerName } from "../src/clients/breakers";
import { organClient } from "../src/clients/organ-client";
import type { BreakerSnapshot } from "../src/lib/circuit-breaker";
import type { Remote } from "../src/lib/remote";
import type { Organ } from "./organ";
import { errorMessage } from "../src/lib/error-message";

/** An organ over RPC, typed by its own method signatures (see `Remote`). */
type OrganStub = Remote<Pick<Organ, "initialize" | "executeBatch" | "getSummary">>;

type Ready = { config: Config; organism: OrganismConfig; routing: RoutingTable };

/**
 * The coordinator (one instance, `idFromName("organism")`): routes each task to an organ's fast
 * path or, when the OCPS valve trips, to a planned escalation. RPC only; no fetch router.
 */
export class OrganismManager extends DurableObject<Env> {
  private status: CoordinatorStatusView["status"] = "initializing";
  private error: string | undefined;
  private ready: Ready | undefined;
  /** Set whenever the config parses; `ready.config` is the same object once healthy. */
  private config: Config | undefined;
  /** The organ client for `config`, built once rather than per call. */
  private organs: { config: Config; client: ReturnType<typeof organClient> } | undefined;
  private ocps: OcpsState = initialOcps();
  private metrics: CoordinatorMetrics = emptyMetrics();
  private initializing: Promise<void> | undefined;
  private inflightEscalations = 0;
  private rotation = 0;
  private readonly shedder = new LoadShedder();

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

  /** Load and organ breakers, for GET /organism/status. */
  getResilience(): { load: LoadSnapshot; organ_breakers: Record<string, BreakerSnapshot> } {
    const max = this.config?.ORGANISM_MAX_INFLIGHT_TASKS ?? 0;
    return { load: this.shedder.snapshot(max), organ_breakers: breakerSnapshot(organBreakerName("")) };
  }

  async handleIncomingTask(task: TaskEnvelope): Promise<TaskOutcome> {
    const [outcome] = await this.handleIncomingTasks([task]);
    return outcome as TaskOutcome;
  }

  /** One call per queue batch. OCPS decisions are taken in task order; the work then runs concurrently. */
  async handleIncomingTasks(tasks: TaskEnvelope[]): Promise<TaskOutcome[]> {
    const isControl = (t: TaskEnvelope) => CONTROL_TYPES.has(t.type.trim().toLowerCase());
    const workCount = tasks.filter((t) => !isControl(t)).length;
    if (workCount > 0) await this.ensureReady();
    // Control messages are never shed: status and recovery must work under load.
    const max = this.ready?.config.ORGANISM_MAX_INFLIGHT_TASKS ?? Number.POSITIVE_INFINITY;
    const admitted = this.shedder.admit(workCount, max);
    try {
      return await this.runAdmitted(tasks, isControl, admitted, max);
    } finally {
      this.shedder.release(admitted);
    }
  }

  private async runAdmitted(tasks: TaskEnvelope[], isControl: (t: TaskEnvelope) => boolean, admitted: number, max: number): Promise<TaskOutcome[]> {
    let seen = 0;
    const results: TaskOutcome[] = [];
    const work: Promise<void>[] = [];
    const fast = new Map<string, { task: TaskEnvelope; pFast: number; slot: number }[]>();
    tasks.forEach((task, slot) => {
      const settle = (p: Promise<TaskOutcome>) => work.push(p.then((o) => void (results[slot] = o)));
      const ready = this.ready;
      if (isControl(task)) {
        this.metrics.control++;
        settle(runControl(this.host(), task));
      } else if (seen++ >= admitted) {
        results[slot] = { id: task.id, ok: false, retriable: true, notRun: true, error: overloadedError(this.shedder.snapshot(max).inflight_tasks, max) };
      } else if (this.status !== "healthy" || !ready) {
        results[slot] = { id: task.id, ok: false, retriable: true, error: `organism is ${this.status}${this.error ? `: ${this.error}` : ""}` };
      } else {
        const organId = resolveRoute(ready.routing, task.type, task.domain);
        if (organId === undefined) {
          this.metrics.unrouted++;
          countOutcome(this.metrics, false);
          results[slot] = { id: task.id, ok: false, retriable: false, error: noRouteError(task.type) };
          return;
        }
        const { decision, next } = stepOcps(this.ocps, task.drift_score, ready.config.OCPS_DRIFT_THRESHOLD);
        this.ocps = next;
        if (decision.escalate) settle(this.escalateCounted(task, organId, ready));
        else fast.set(organId, [...(fast.get(organId) ?? []), { task, pFast: pFast(next), slot }]);
      }
    });
    for (const [organId, group] of fast) {
      const config = (this.ready as Ready).config;
      work.push(runFastGroup(organId, group, (id, t) => this.runOnOrgan(id, t), config, this.metrics).then((outs) => {
        group.forEach((g, i) => (results[g.slot] = outs[i] as TaskOutcome));
      }));
    }
    await Promise.all(work);
    // One storage write per batch keeps the coordinator cheap at high task rates.
    saveRuntime(this.ctx.storage.kv, { ocps: this.ocps, metrics: this.metrics });
    return results;
  }

  private async escalateCounted(task: TaskEnvelope, organId: string, ready: Ready): Promise<TaskOutcome> {
    const inflight = this.inflightEscalations++;
    try {
      const knownOrgans = new Set(ready.organism.organs.map((o) => o.organ_id));
      const outcome = await escalate(task, organId, pFast(this.ocps), { config: ready.config, routing: ready.routing, knownOrgans, inflight, run: (id, t) => this.runOnOrgan(id, t), metrics: this.metrics });
      countOutcome(this.metrics, outcome.ok);
      return outcome;
    } finally {
      this.inflightEscalations--;
    }
  }

  private organStub(organId: string): OrganStub {
    return this.env.ORGAN.get(this.env.ORGAN.idFromName(organId)) as unknown as OrganStub;
  }

  /** Through the organ client (breaker, transient retries, timeout) once the config is known. */
  private runOnOrgan(organId: string, tasks: OrganTask[]): Promise<OrganTaskResult[]> {
    const config = this.config;
    if (!config) return this.organStub(organId).executeBatch(tasks);
    if (this.organs?.config !== config) this.organs = { config, client: organClient(config, { stub: (id) => this.organStub(id) }) };
    return this.organs.client.executeBatch(organId, tasks);
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
    this.config = app.config;
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

  private async init(): Promise<void> {
    this.status = "initializing";
    const app = parseConfig(this.env);
    if (!app.ok) return this.fail(app.error);
    this.config = app.config;
    const organism = this.desiredOrganism();
    if (!organism.ok) return this.fail(organism.error);
    const failed = await initializeOrgans(organism.config.organs, (spec) => this.organStub(spec.organ_id).initialize(spec));
    if (failed) return this.fail(failed);
    this.markHealthy(app.config, organism.config);
    saveOrganism(this.ctx.storage.kv, { status: "healthy", config: organism.config, error: null });
  }

  private markHealthy(config: Config, organism: OrganismConfig): void {
    this.ready = { config, organism, routing: buildRoutingTable(organism) };
    this.status = "healthy";
    this.error = undefined;
  }

  private fail(error: string): void {
    this.status = "unhealthy";
    this.error = error;
    this.ready = undefined;
    saveOrganism(this.ctx.storage.kv, { status: "unhealthy", config: null, error });
  }

  private statusView(): CoordinatorStatusView {
    return {
      status: this.status,
      organism_initialized: this.status === "healthy",
      organs: this.ready?.organism.organs ?? [],
      ...(this.error ? { error: this.error } : {}),
    };
  }

  /** The narrow surface control messages act through (kept off the RPC surface). */
  private host(): ControlHost {
    return {
      status: () => this.statusView(),
      ensureReady: () => this.ensureReady(),
      reinitialize: async (override) => {
        await this.initializing;
        if (override !== undefined) {
          // Checked before anything is stored or torn down, so a bad config leaves the running
          // organism as it is instead of being persisted and failing every start after it.
          const next = this.desiredOrganism(override);
          if (!next.ok) return next.error;
          saveOverride(this.ctx.storage.kv, override);
        }
        this.status = "initializing";
        await this.ensureReady();
        return undefined;
      },
      shutdown: () => {
        this.status = "shutdown";
        this.ready = undefined;
        saveOrganism(this.ctx.storage.kv, { status: "shutdown", config: null, error: null });
      },
      run: (id, t) => this.runOnOrgan(id, t),
      summary: (id) => this.organStub(id).getSummary(),
      metrics: () => metricsSnapshot(this.metrics, this.ocps, this.config?.OCPS_DRIFT_THRESHOLD ?? 0.5),
      routingDebug: (type, domain, drift) => {
        const ready = this.ready as Ready;
        return routingDebug(ready.routing, this.ocps, ready.config.OCPS_DRIFT_THRESHOLD, type, domain, drift);
      },
      nextOrganIndex: () => this.rotation++,
    };
  }
}
