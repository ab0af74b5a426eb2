/**
 * A `transition` rollup row's bucket. The rows every task moves are kept for all time, one per
 * label and histogram bucket (-1: no duration). A submission or an outcome (what /stats counts per
 * minute) goes into a row of its minute instead: `minute index × MINUTE_SLOTS + histogram bucket + 1`,
 * so one row carries both the count per status and the per-minute figure (issue 23: one rollup row
 * per transition, where a single task's submission and outcome each wrote two). The maintenance
 * alarm folds the rows of past minutes into the all-time rows and the `minute` rows
 * (foldMinuteRollups); readers add up both forms, so a fold that has not run yet changes nothing.
 */
export const MINUTE_SLOTS = 16;

const MS_PER_MINUTE = 60_000;

/** The first bucket of `now`'s minute (histogram bucket -1). */
export function minuteBucketBase(now: number): number {
  return Math.floor(now / MS_PER_MINUTE) * MINUTE_SLOTS + 1;
}

/** The first bucket of a minute row: every bucket below it (-1 … 13) is an all-time row's. */
export const FIRST_MINUTE_BUCKET = MINUTE_SLOTS;

/** A bucket's histogram bucket (-1: none) and, for a row of one minute, that minute's start (epoch ms). */
export function decodeTransitionBucket(bucket: number): { histogram: number; minute: number | null } {
  if (bucket < FIRST_MINUTE_BUCKET) return { histogram: bucket, minute: null };
  return { histogram: (bucket % MINUTE_SLOTS) - 1, minute: Math.floor(bucket / MINUTE_SLOTS) * MS_PER_MINUTE };
}
