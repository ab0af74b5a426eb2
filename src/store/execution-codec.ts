/*
 * How a task's `execution` is stored. Most tasks run on the fast path, whose execution is always
 * the same six keys with an agent id derived from the organ's (durable-objects/agent-store.ts):
 * stored as an array, [organ_id, replica, agent index, p_fast, latency_ms(, 1 when timed out)],
 * ≈ 27 B where the object took ≈ 120. Any other execution (escalation, control, pull, executors)
 * is stored as it is, an object, so an array is always this form. Rows written before this form
 * read back the same, and so do arrays of migration 0013's form, which began with a marker "f"
 * (told apart by their second item: the organ id, where this form has the replica).
 */

/** The fast path's execution, as the API shows it (dispatch/run-fast.ts builds it). */
interface FastExecution {
  path: "fast";
  organ_id: string;
  replica: number;
  agent_id: string;
  p_fast: number;
  latency_ms: number;
  timed_out?: true;
}

type PackedFast = [organ: string, replica: number, agent: number, pFast: number, latencyMs: number, timedOut?: 1];
type MarkedFast = ["f", organ: string, replica: number, agent: number, pFast: number, latencyMs: number, timedOut?: 1];

/** An execution as the row holds it. */
export type StoredExecution = Record<string, unknown> | PackedFast | MarkedFast;

const FAST_KEYS = new Set(["path", "organ_id", "replica", "agent_id", "p_fast", "latency_ms", "timed_out"]);

/** The agent's index when `agent_id` is the organ's agent naming, else null (then the object is stored whole). */
function agentIndex(organId: string, agentId: string): number | null {
  const prefix = `${organId}_agent_`;
  if (!agentId.startsWith(prefix)) return null;
  const tail = agentId.slice(prefix.length);
  return /^(0|[1-9][0-9]{0,8})$/.test(tail) ? Number(tail) : null;
}

export function packExecution(e: Record<string, unknown>): StoredExecution {
  const { path, organ_id, replica, agent_id, p_fast, latency_ms, timed_out } = e;
  if (path !== "fast" || typeof organ_id !== "string" || typeof agent_id !== "string" || !Number.isInteger(replica)) return e;
  if (typeof p_fast !== "number" || typeof latency_ms !== "number" || (timed_out !== undefined && timed_out !== true)) return e;
  if (Object.keys(e).some((k) => !FAST_KEYS.has(k))) return e;
  const agent = agentIndex(organ_id, agent_id);
  if (agent === null) return e;
  const packed: PackedFast = [organ_id, replica as number, agent, p_fast, latency_ms];
  if (timed_out) packed.push(1);
  return packed;
}

export function unpackExecution(stored: StoredExecution): Record<string, unknown> {
  if (!Array.isArray(stored)) return stored;
  const [organ_id, replica, agent, p_fast, latency_ms, timedOut] = typeof stored[1] === "string" ? (stored.slice(1) as PackedFast) : (stored as PackedFast);
  const fast: FastExecution = { path: "fast", organ_id, replica, agent_id: `${organ_id}_agent_${agent}`, p_fast, latency_ms };
  if (timedOut === 1) fast.timed_out = true;
  return { ...fast };
}
