import { sql, type SQL } from "drizzle-orm";
import type { EventActor, TaskStatus, TimelineEntry } from "../db/schema";

/*
 * How a timeline is stored (migration 0013). The submission entry is not stored: it is the task's
 * created_at, and the status it was submitted in is the first stored entry's `from` (or, with no
 * entry yet, the task's status). Every other entry is a JSON array
 *   [ms since the task's created_at, from code | null, to code, attempt, actor code, message code | text | null]
 * where the codes index the tables below: ≈ 15 B an entry where the spelled-out form took ≈ 60, the
 * largest part of what a finished task stored beyond its params and result. Since 0014 an entry
 * by the dispatcher with the message its `to` implies (DEFAULT_MESSAGES: a claim, a completion)
 * stops after `attempt`: 11 B, as most entries are. Entries written before 0013 are spelled out
 * ([epoch ms, "from", "to", attempt, "actor", message]) and read back the same. The tables are
 * stored data: append only, never reorder (the view `task_timeline` of migration 0014 decodes
 * with the same tables).
 */
export const STORED_STATUSES = ["created", "queued", "running", "completed", "failed", "retry", "cancelled"] as const satisfies readonly TaskStatus[];
export const STORED_ACTORS = ["api", "dispatcher", "reaper", "dlq", "webhook"] as const satisfies readonly EventActor[];
/** The messages most entries carry, stored as their index. */
const STORED_MESSAGES = ["claimed", "completed", "parents finished", "lease expired (dispatcher lost)"] as const;

/** The message a dispatcher's entry into a status carries unless it says otherwise; such an entry is stored without actor and message. */
const DEFAULT_MESSAGES: Partial<Record<TaskStatus, (typeof STORED_MESSAGES)[number]>> = { running: "claimed", completed: "completed" };
const DISPATCHER = STORED_ACTORS.indexOf("dispatcher");

/** One timeline entry as the row holds it: coded (0013 on, shortened 0014 on) or spelled out (before). */
export type StoredTimelineEntry =
  | [sinceCreated: number, from: number | null, to: number, attempt: number, actor: number, message: number | string | null]
  | [sinceCreated: number, from: number | null, to: number, attempt: number]
  | TimelineEntry;

/** `value`'s index in `table`; else `otherwise` (NULL by default). */
const codeOf = (table: readonly string[], value: SQL, otherwise = sql`NULL`) =>
  sql`CASE ${value} ${sql.raw(table.map((s, i) => `WHEN '${s}' THEN ${i}`).join(" "))} ELSE ${otherwise} END`;

/** One coded entry, an SQL json_array; `createdAt` is the task's created_at column. */
export function timelineEntry(e: { at: number; createdAt: SQL; from: SQL; to: SQL; attempt: SQL; actor: EventActor; message: SQL }): SQL {
  // D1 binds a JS number as REAL; the cast keeps the JSON an integer ("93", not "93.0").
  const head = sql`CAST(${e.at} - ${e.createdAt} AS INTEGER), ${codeOf(STORED_STATUSES, e.from)}, ${codeOf(STORED_STATUSES, e.to)}, ${e.attempt}`;
  const full = sql`json_array(${head}, ${sql.raw(String(STORED_ACTORS.indexOf(e.actor)))}, ${codeOf(STORED_MESSAGES, e.message, e.message)})`;
  if (e.actor !== "dispatcher") return full;
  const implied = sql`CASE ${e.to} ${sql.raw(Object.entries(DEFAULT_MESSAGES).map(([to, m]) => `WHEN '${to}' THEN '${m}'`).join(" "))} END`;
  return sql`CASE WHEN ${e.message} IS ${implied} THEN json_array(${head}) ELSE ${full} END`;
}

/** A stored entry as the API shows it, whichever form it was written in. */
export function decodeTimelineEntry(e: StoredTimelineEntry, createdAt: number): TimelineEntry {
  if (typeof e[2] === "string") return e as TimelineEntry;
  const [since, from, to, attempt, actor, message] = e as Exclude<StoredTimelineEntry, TimelineEntry>;
  const status = decoded(STORED_STATUSES, to);
  return [
    createdAt + since,
    from === null ? null : decoded(STORED_STATUSES, from),
    status,
    attempt,
    decoded(STORED_ACTORS, actor ?? DISPATCHER),
    actor === undefined ? (DEFAULT_MESSAGES[status] ?? null) : typeof message === "number" ? decoded(STORED_MESSAGES, message) : (message ?? null),
  ];
}

/** A code's name; a code no table holds (written by a newer build) shows as "#<code>" rather than as some other name. */
const decoded = <T extends string>(table: readonly T[], code: number): T => table[code] ?? (`#${code}` as T);

/**
 * When the task's last claim took it (its last entry into running from another status), or null.
 * An outcome leaves locked_at NULL (record-outcomes.ts: 6 B less in every finished row); the API
 * still shows the claim's time from here.
 */
export function lastClaimedAt(row: { events: readonly StoredTimelineEntry[]; createdAt: number }): number | null {
  for (let i = row.events.length - 1; i >= 0; i--) {
    const [at, from, to] = decodeTimelineEntry(row.events[i]!, row.createdAt);
    if (to === "running" && from !== "running") return at;
  }
  return null;
}

/** A task's timeline, oldest first, as the API shows it. */
export function timelineOf(row: { events: readonly StoredTimelineEntry[]; createdAt: number; status: TaskStatus }): TimelineEntry[] {
  const entries = row.events.map((e) => decodeTimelineEntry(e, row.createdAt));
  const first = entries[0];
  // A row written before 0013 stores its submission entry, the only one from no status.
  if (first && first[1] === null) return entries;
  return [[row.createdAt, null, first?.[1] ?? row.status, 0, "api", "submitted"], ...entries];
}
