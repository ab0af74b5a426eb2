import { INITIAL_CAPABILITY, QUALITY_WINDOW, TASK_HISTORY, type RoleProbs } from "../src/organism/agent-scoring";
import type { OrganType } from "../src/organism/organism-config";
import { chunkJsonArray, D1_JSON_BUDGET_BYTES } from "../src/lib/platform-limits";

/** One agent as the organ keeps it in memory; rows in `agents` mirror it. */
export interface AgentState {
  agent_id: string;
  idx: number;
  role_probs: RoleProbs;
  capability: number;
  mem_util: number;
  tasks_processed: number;
  successes: number;
  failures: number;
  /** Newest last, at most QUALITY_WINDOW entries. */
  quality_scores: number[];
  history_size: number;
  last_task_at: number | null;
}

export interface OrganMeta {
  organ_id: string;
  organ_type: OrganType;
  task_types: string[];
  /** Older organs were stored before replicas existed: they are replica 0. */
  replica: number;
  /** The organ's layout as last given: agent `i` belongs to replica `i mod replicas`, while `i < agent_count`. */
  replicas: number;
  agent_count: number;
  /**
   * The coordinator's initialisation this layout came from (increasing). An agent handed over
   * under a newer layout waits until this replica has it too; 0 for organs stored before hand-offs.
   */
  epoch: number;
}

export interface TaskRecord {
  agent_id: string;
  task_id: string;
  task_type: string;
  success: boolean;
  quality: number;
  latency_ms: number;
  error: string | null;
  at: number;
}

/** The organ's SQLite schema; `IF NOT EXISTS` makes it safe to run on every start. */
export function ensureSchema(sql: SqlStorage): void {
  sql.exec(`CREATE TABLE IF NOT EXISTS organ_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`);
  sql.exec(`CREATE TABLE IF NOT EXISTS agents (
    agent_id TEXT PRIMARY KEY, idx INTEGER NOT NULL, p_e REAL NOT NULL, p_s REAL NOT NULL, p_o REAL NOT NULL,
    capability REAL NOT NULL, mem_util REAL NOT NULL, tasks_processed INTEGER NOT NULL, successes INTEGER NOT NULL,
    failures INTEGER NOT NULL, quality_scores TEXT NOT NULL, last_task_at INTEGER)`);
  sql.exec(`CREATE TABLE IF NOT EXISTS task_records (seq INTEGER PRIMARY KEY AUTOINCREMENT, agent_id TEXT NOT NULL,
    task_id TEXT NOT NULL, task_type TEXT NOT NULL, success INTEGER NOT NULL, quality REAL NOT NULL,
    latency_ms REAL NOT NULL, error TEXT, at INTEGER NOT NULL)`);
  sql.exec(`CREATE INDEX IF NOT EXISTS task_records_agent ON task_records (agent_id, seq)`);
  // Agents on their way to the replica that now owns them, with their records, until it confirms.
  sql.exec(`CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, dest TEXT NOT NULL, epoch INTEGER NOT NULL, agent TEXT NOT NULL)`);
  sql.exec(`CREATE TABLE IF NOT EXISTS outbox_records (shipment INTEGER NOT NULL, agent_id TEXT NOT NULL, task_id TEXT NOT NULL,
    task_type TEXT NOT NULL, success INTEGER NOT NULL, quality REAL NOT NULL, latency_ms REAL NOT NULL, error TEXT, at INTEGER NOT NULL)`);
  sql.exec(`CREATE INDEX IF NOT EXISTS outbox_records_shipment ON outbox_records (shipment)`);
  // The last shipment taken from each sender: a shipment sent again (its confirmation lost) is not merged twice.
  sql.exec(`CREATE TABLE IF NOT EXISTS inbox (source TEXT PRIMARY KEY, seq INTEGER NOT NULL)`);
}

/** Meta as older organs stored it: the layout fields came later. */
type StoredMeta = Omit<OrganMeta, "replica" | "replicas" | "agent_count" | "epoch"> & Partial<OrganMeta>;

export function loadMeta(sql: SqlStorage): OrganMeta | undefined {
  const row = sql.exec<{ v: string }>(`SELECT v FROM organ_meta WHERE k = 'meta'`).toArray()[0];
  return row ? { replica: 0, replicas: 1, agent_count: 0, epoch: 0, ...(JSON.parse(row.v) as StoredMeta) } : undefined;
}

export function saveMeta(sql: SqlStorage, meta: OrganMeta): void {
  sql.exec(`INSERT INTO organ_meta (k, v) VALUES ('meta', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, JSON.stringify(meta));
}

type AgentRow = {
  agent_id: string; idx: number; p_e: number; p_s: number; p_o: number; capability: number; mem_util: number;
  tasks_processed: number; successes: number; failures: number; quality_scores: string; last_task_at: number | null;
};

export function loadAgents(sql: SqlStorage): AgentState[] {
  const sizes = new Map(
    sql.exec<{ agent_id: string; n: number }>(`SELECT agent_id, COUNT(*) AS n FROM task_records GROUP BY agent_id`).toArray().map((r) => [r.agent_id, r.n]),
  );
  return sql.exec<AgentRow>(`SELECT * FROM agents ORDER BY idx`).toArray().map((r) => ({
    agent_id: r.agent_id,
    idx: r.idx,
    role_probs: { E: r.p_e, S: r.p_s, O: r.p_o },
    capability: r.capability,
    mem_util: r.mem_util,
    tasks_processed: r.tasks_processed,
    successes: r.successes,
    failures: r.failures,
    quality_scores: JSON.parse(r.quality_scores) as number[],
    history_size: sizes.get(r.agent_id) ?? 0,
    last_task_at: r.last_task_at,
  }));
}

export function newAgent(organId: string, idx: number, roleProbs: RoleProbs): AgentState {
  return {
    agent_id: `${organId}_agent_${idx}`, idx, role_probs: roleProbs, capability: INITIAL_CAPABILITY, mem_util: 0,
    tasks_processed: 0, successes: 0, failures: 0, quality_scores: [], history_size: 0, last_task_at: null,
  };
}

export function saveAgent(sql: SqlStorage, a: AgentState): void {
  sql.exec(
    `INSERT INTO agents (agent_id, idx, p_e, p_s, p_o, capability, mem_util, tasks_processed, successes, failures, quality_scores, last_task_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (agent_id) DO UPDATE SET p_e = excluded.p_e, p_s = excluded.p_s, p_o = excluded.p_o,
       capability = excluded.capability, mem_util = excluded.mem_util, tasks_processed = excluded.tasks_processed,
       successes = excluded.successes, failures = excluded.failures, quality_scores = excluded.quality_scores,
       last_task_at = excluded.last_task_at`,
    a.agent_id, a.idx, a.role_probs.E, a.role_probs.S, a.role_probs.O, a.capability, a.mem_util,
    a.tasks_processed, a.successes, a.failures, JSON.stringify(a.quality_scores.slice(-QUALITY_WINDOW)), a.last_task_at,
  );
}

/** Inserts records, one statement per chunk of a JSON array: a statement per record was the organ's busiest call. */
export function insertRecords(sql: SqlStorage, records: readonly TaskRecord[]): void {
  for (const chunk of chunkJsonArray(records, D1_JSON_BUDGET_BYTES)) {
    sql.exec(
      `INSERT INTO task_records (agent_id, task_id, task_type, success, quality, latency_ms, error, at)
       SELECT value->>'agent_id', value->>'task_id', value->>'task_type', value->>'success', value->>'quality', value->>'latency_ms', value->>'error', value->>'at'
       FROM json_each(?)`,
      chunk.json,
    );
  }
}

/** Keeps only the newest TASK_HISTORY records of an agent. */
export function pruneRecords(sql: SqlStorage, agentId: string): void {
  sql.exec(
    `DELETE FROM task_records WHERE agent_id = ?1 AND seq <= (
       SELECT seq FROM task_records WHERE agent_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)`,
    agentId, TASK_HISTORY,
  );
}

type RecordRow = { agent_id: string; task_id: string; task_type: string; success: number; quality: number; latency_ms: number; error: string | null; at: number };
const RECORD_COLUMNS = "agent_id, task_id, task_type, success, quality, latency_ms, error, at";
const toRecord = (r: RecordRow): TaskRecord => ({ ...r, success: r.success === 1 });

export function recentRecords(sql: SqlStorage, agentId: string, limit: number): TaskRecord[] {
  return sql.exec<RecordRow>(`SELECT ${RECORD_COLUMNS} FROM task_records WHERE agent_id = ? ORDER BY seq DESC LIMIT ?`, agentId, limit).toArray().map(toRecord);
}

/** An agent with its history, as it moves between replicas when an organ's replica count changes. */
export interface AgentExport {
  agent: AgentState;
  /** Oldest first. */
  records: TaskRecord[];
}

/** An agent in the outbox: `seq` orders a sender's shipments, `epoch` is the layout that sent it. */
export interface Shipment extends AgentExport {
  seq: number;
  epoch: number;
}

export function exportAgent(sql: SqlStorage, agent: AgentState): AgentExport {
  return { agent, records: recentRecords(sql, agent.agent_id, TASK_HISTORY).reverse() };
}

/** Moves an agent and its records from this replica into the outbox, addressed to `dest`. */
export function shipAgent(sql: SqlStorage, agent: AgentState, dest: string, epoch: number): void {
  const { seq } = sql.exec<{ seq: number }>(`INSERT INTO outbox (dest, epoch, agent) VALUES (?, ?, ?) RETURNING seq`, dest, epoch, JSON.stringify(agent)).one();
  sql.exec(`INSERT INTO outbox_records (shipment, ${RECORD_COLUMNS}) SELECT ?, ${RECORD_COLUMNS} FROM task_records WHERE agent_id = ? ORDER BY seq`, seq, agent.agent_id);
  deleteAgent(sql, agent.agent_id);
}

/** Everything in the outbox, by destination, each in the order it was shipped. */
export function pendingShipments(sql: SqlStorage): Map<string, Shipment[]> {
  const byDest = new Map<string, Shipment[]>();
  for (const row of sql.exec<{ seq: number; dest: string; epoch: number; agent: string }>(`SELECT seq, dest, epoch, agent FROM outbox ORDER BY seq`)) {
    const records = sql.exec<RecordRow>(`SELECT ${RECORD_COLUMNS} FROM outbox_records WHERE shipment = ? ORDER BY rowid`, row.seq).toArray().map(toRecord);
    byDest.set(row.dest, [...(byDest.get(row.dest) ?? []), { seq: row.seq, epoch: row.epoch, agent: JSON.parse(row.agent) as AgentState, records }]);
  }
  return byDest;
}

/** Drops the shipments `dest` confirmed (every one up to `seq`). */
export function ackShipments(sql: SqlStorage, dest: string, seq: number): void {
  sql.exec(`DELETE FROM outbox_records WHERE shipment IN (SELECT seq FROM outbox WHERE dest = ? AND seq <= ?)`, dest, seq);
  sql.exec(`DELETE FROM outbox WHERE dest = ? AND seq <= ?`, dest, seq);
}

export function lastReceived(sql: SqlStorage, source: string): number {
  return sql.exec<{ seq: number }>(`SELECT seq FROM inbox WHERE source = ?`, source).toArray()[0]?.seq ?? 0;
}

export function saveReceived(sql: SqlStorage, source: string, seq: number): void {
  sql.exec(`INSERT INTO inbox (source, seq) VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET seq = max(seq, excluded.seq)`, source, seq);
}

/** Replaces an agent's row and history with an imported one. */
export function importAgent(sql: SqlStorage, e: AgentExport): void {
  saveAgent(sql, e.agent);
  sql.exec(`DELETE FROM task_records WHERE agent_id = ?`, e.agent.agent_id);
  insertRecords(sql, e.records);
}

export function deleteAgent(sql: SqlStorage, agentId: string): void {
  sql.exec(`DELETE FROM agents WHERE agent_id = ?`, agentId);
  sql.exec(`DELETE FROM task_records WHERE agent_id = ?`, agentId);
}

/** Times a task id was run here (within the kept history): tests check steps run exactly once. */
export function runsOf(sql: SqlStorage, taskId: string): number {
  return sql.exec<{ n: number }>(`SELECT count(*) AS n FROM task_records WHERE task_id = ?`, taskId).one().n;
}
