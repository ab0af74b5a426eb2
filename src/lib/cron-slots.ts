import { Cron } from "croner";
import type { MissedPolicy } from "../db/schema";

/** Slots looked at per schedule per tick; a longer outage counts the rest as skipped without naming them. */
export const MAX_SLOTS_SCANNED = 10_000;

export type CronCheck = { ok: true; cron: Cron } | { ok: false; field: "cron" | "timezone"; message: string };

/** Is the timezone one the runtime knows (IANA name)? */
function knownTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** Parses a cron expression (5 fields, or 6 with seconds first) for a timezone, naming what is wrong. */
export function parseCron(expression: string, timezone: string): CronCheck {
  if (!knownTimezone(timezone)) return { ok: false, field: "timezone", message: `unknown timezone '${timezone}' (use an IANA name such as Europe/Berlin)` };
  try {
    const cron = new Cron(expression, { timezone, paused: true, mode: "5-or-6-parts" });
    return { ok: true, cron };
  } catch (err) {
    const reason = err instanceof Error ? err.message.replace(/^CronPattern: /, "") : String(err);
    return { ok: false, field: "cron", message: `invalid cron expression '${expression}': ${reason}` };
  }
}

/** The first slot strictly after `after` (epoch ms), or null when the expression has none. */
export function nextSlot(cron: Cron, after: number): number | null {
  return cron.nextRun(new Date(after))?.getTime() ?? null;
}

export interface DuePlan {
  /** Slots to fire now, oldest first. */
  fire: number[];
  /** Missed slots not fired (the policy's leftovers). */
  skipped: number;
  /** The slot to wait for next. */
  next: number | null;
}

export interface DueInput {
  /** The schedule's stored next slot: the first one not handled yet. */
  from: number;
  now: number;
  /** A slot older than this when handled is missed. */
  graceMs: number;
  missed: MissedPolicy;
  maxCatchup: number;
}

/** Slots in [from, to], oldest first, at most `cap` (then `more` says some were left). */
function slotsBetween(cron: Cron, from: number, to: number, cap: number): { slots: number[]; more: boolean } {
  const slots: number[] = [];
  for (let s: number | null = from; s !== null && s <= to; s = nextSlot(cron, s)) {
    if (slots.length >= cap) return { slots, more: true };
    slots.push(s);
  }
  return { slots, more: false };
}

/**
 * Which slots to fire at `now`. Slots no older than the grace are on time and always fire; older
 * ones are missed: `skip` fires none of them, `once` the latest, `all` the latest `maxCatchup`.
 * After an outage longer than MAX_SLOTS_SCANNED slots the latest missed slots are found counting
 * back from the grace boundary, and the skipped count is a lower bound. Pure: tested without a clock.
 */
export function planDueSlots(cron: Cron, input: DueInput): DuePlan {
  const boundary = input.now - input.graceMs;
  const keep = input.missed === "skip" ? 0 : input.missed === "once" ? 1 : input.maxCatchup;
  const scanned = slotsBetween(cron, input.from, input.now, MAX_SLOTS_SCANNED);
  let missed = scanned.slots.filter((s) => s < boundary);
  let onTime = scanned.slots.filter((s) => s >= boundary);
  let skippedUnseen = 0;
  if (scanned.more) {
    const latestMissed = keep > 0 ? cron.previousRuns(keep, new Date(boundary)).map((d) => d.getTime()) : [];
    missed = [...new Set([...missed, ...latestMissed])].filter((s) => s >= input.from && s < boundary).sort((a, b) => a - b);
    const firstOnTime = nextSlot(cron, boundary - 1);
    onTime = firstOnTime === null ? [] : slotsBetween(cron, firstOnTime, input.now, MAX_SLOTS_SCANNED).slots;
    skippedUnseen = 1; // at least one slot was never looked at
  }
  const caughtUp = keep > 0 ? missed.slice(-keep) : [];
  return {
    fire: [...caughtUp, ...onTime],
    skipped: missed.length - caughtUp.length + skippedUnseen,
    next: nextSlot(cron, input.now),
  };
}
