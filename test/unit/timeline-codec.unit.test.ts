import { describe, expect, it } from "vitest";
import { EVENT_ACTORS, TASK_STATUSES, type TimelineEntry } from "../../src/db/schema";
import { decodeTimelineEntry, lastClaimedAt, STORED_ACTORS, STORED_STATUSES, timelineOf, type StoredTimelineEntry } from "../../src/store/timeline-codec";

const CREATED = 1_796_243_290_693;

describe("timeline codec", () => {
  it("has a code for every status and actor", () => {
    expect([...STORED_STATUSES].sort()).toEqual([...TASK_STATUSES].sort());
    expect([...STORED_ACTORS].sort()).toEqual([...EVENT_ACTORS].sort());
  });

  it("decodes a coded entry: time from created_at, codes to names, a coded message to its text", () => {
    expect(decodeTimelineEntry([93, 1, 2, 1, 1, 0], CREATED)).toEqual([CREATED + 93, "queued", "running", 1, "dispatcher", "claimed"]);
    expect(decodeTimelineEntry([95, 2, 3, 1, 1, 1], CREATED)).toEqual([CREATED + 95, "running", "completed", 1, "dispatcher", "completed"]);
    expect(decodeTimelineEntry([196, 2, 5, 1, 1, "attempt 1 failed"], CREATED)).toEqual([CREATED + 196, "running", "retry", 1, "dispatcher", "attempt 1 failed"]);
    expect(decodeTimelineEntry([200, 3, 3, 1, 4, null], CREATED)).toEqual([CREATED + 200, "completed", "completed", 1, "webhook", null]);
  });

  it("reads an entry stored without actor and message as the dispatcher's, with the message its status implies", () => {
    expect(decodeTimelineEntry([93, 1, 2, 1], CREATED)).toEqual([CREATED + 93, "queued", "running", 1, "dispatcher", "claimed"]);
    expect(decodeTimelineEntry([95, 2, 3, 2], CREATED)).toEqual([CREATED + 95, "running", "completed", 2, "dispatcher", "completed"]);
    // A status with no implied message: the dispatcher's entry had none.
    expect(decodeTimelineEntry([96, 2, 4, 1], CREATED)).toEqual([CREATED + 96, "running", "failed", 1, "dispatcher", null]);
  });

  it("reads an entry written before the codes as it is", () => {
    const old: TimelineEntry = [CREATED + 5, "queued", "running", 1, "dispatcher", "claimed"];
    expect(decodeTimelineEntry(old, CREATED)).toEqual(old);
  });

  it("shows the submission entry it does not store: at created_at, in the first entry's from status", () => {
    expect(timelineOf({ events: [[40, 0, 1, 0, 2, 2]], createdAt: CREATED, status: "running" })).toEqual([
      [CREATED, null, "created", 0, "api", "submitted"],
      [CREATED + 40, "created", "queued", 0, "reaper", "parents finished"],
    ]);
    // With no entry yet, the task is still in the status it was submitted in.
    expect(timelineOf({ events: [], createdAt: CREATED, status: "queued" })).toEqual([[CREATED, null, "queued", 0, "api", "submitted"]]);
  });

  it("reads a timeline mixing both forms (a row written before the codes, appended to after), its stored submission entry once", () => {
    const events: StoredTimelineEntry[] = [
      [CREATED, null, "queued", 0, "api", "submitted"],
      [40, 1, 2, 1, 1, 0],
    ];
    expect(timelineOf({ events, createdAt: CREATED, status: "running" })).toEqual([
      [CREATED, null, "queued", 0, "api", "submitted"],
      [CREATED + 40, "queued", "running", 1, "dispatcher", "claimed"],
    ]);
  });

  it("shows a code no table holds as #<code>, not as another name", () => {
    expect(decodeTimelineEntry([1, 2, 99, 1, 42, 77], CREATED)).toEqual([CREATED + 1, "running", "#99", 1, "#42", "#77"]);
    expect(decodeTimelineEntry([2, 2, 3, 1, 1, 3], CREATED)[5]).toBe("lease expired (dispatcher lost)");
  });

  it("finds the last claim: the last entry into running from another status, in either form", () => {
    const events: StoredTimelineEntry[] = [
      [CREATED, null, "queued", 0, "api", "submitted"],
      [CREATED + 5, "queued", "running", 1, "dispatcher", "claimed"],
      [40, 2, 5, 1, 1, "attempt 1 failed"],
      [90, 5, 2, 2],
      [95, 2, 2, 2, 1, "step 1 of 3"],
      [99, 2, 3, 2],
    ];
    expect(lastClaimedAt({ events, createdAt: CREATED })).toBe(CREATED + 90);
    expect(lastClaimedAt({ events: events.slice(0, 3), createdAt: CREATED })).toBe(CREATED + 5);
    expect(lastClaimedAt({ events: [], createdAt: CREATED })).toBeNull();
  });
});
