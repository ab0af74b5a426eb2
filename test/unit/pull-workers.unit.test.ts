import { describe, expect, it } from "vitest";
import { decideOutcome } from "../../src/dispatch/retry-policy";
import { isWorkerRoute } from "../../src/lib/auth";
import { leaseTokenFor, leaseTokenHolds } from "../../src/lib/lease-token";
import { EVERY_TYPE_SCOPE, leaseTypes, scopeAllows, scopeOfTypes, workerScopeOf, workerTokensSchema } from "../../src/lib/worker-tokens";
import { CLAIM_STATEMENTS, currentLeaseS, LEASE_POLL_MS, LEASE_STATEMENT_RESERVE, leasePollMs } from "../../src/pull-workers";
import { DEFAULT_LEASE_S, MAX_LEASE_S, MIN_LEASE_S } from "../../src/schemas/pull-worker";
import { handOffLeaseMs } from "../../src/tasks/executors";

describe("worker token scopes", () => {
  it('"*" grants every pull type; a list grants its types only', () => {
    expect(scopeOfTypes(["*"])).toEqual(EVERY_TYPE_SCOPE);
    expect(scopeOfTypes(["a", "*"])).toEqual(EVERY_TYPE_SCOPE);
    const ab = scopeOfTypes(["a", "b"]);
    expect(scopeAllows(ab, "a")).toBe(true);
    expect(scopeAllows(ab, "c")).toBe(false);
    expect(scopeAllows(EVERY_TYPE_SCOPE, "anything")).toBe(true);
  });

  it("leaseTypes: default = the scope's pull types; a non-pull type is a 400, one outside the scope a 403", () => {
    const pull = ["a", "b", "c"];
    expect(leaseTypes(EVERY_TYPE_SCOPE, undefined, pull)).toEqual({ ok: true, types: pull });
    expect(leaseTypes(scopeOfTypes(["b", "z"]), undefined, pull)).toEqual({ ok: true, types: ["b"] });
    expect(leaseTypes(scopeOfTypes(["a"]), ["a", "a"], pull)).toEqual({ ok: true, types: ["a"] });
    expect(leaseTypes(scopeOfTypes(["a"]), ["b"], pull)).toMatchObject({ ok: false, status: 403, type: "b" });
    expect(leaseTypes(EVERY_TYPE_SCOPE, ["a", "ping"], pull)).toMatchObject({ ok: false, status: 400, type: "ping" });
    // 400 before 403: a type that is no pull type is a mistake whoever asks.
    expect(leaseTypes(scopeOfTypes(["a"]), ["b", "ping"], pull)).toMatchObject({ ok: false, status: 400, type: "ping" });
    expect(leaseTypes(EVERY_TYPE_SCOPE, undefined, [])).toEqual({ ok: true, types: [] });
  });

  it("workerScopeOf: the scope of a configured token, null for anything else", async () => {
    const tokens = { "tok-a": ["a"], "tok-all": ["*"] };
    expect(await workerScopeOf(tokens, "tok-a")).toEqual(scopeOfTypes(["a"]));
    expect(await workerScopeOf(tokens, "tok-all")).toEqual(EVERY_TYPE_SCOPE);
    for (const given of ["tok-", "tok-ab", "TOK-A", ""]) expect(await workerScopeOf(tokens, given)).toBeNull();
    expect(await workerScopeOf({}, "tok-a")).toBeNull();
  });

  it("WORKER_TOKENS' shape: tokens without whitespace, each with at least one valid type or *", () => {
    expect(workerTokensSchema.safeParse({ "tok-abc": ["transcode", "embed"], "tok-def": ["*"] }).success).toBe(true);
    expect(workerTokensSchema.safeParse({ ["t".repeat(512)]: ["a"] }).success).toBe(true);
    for (const bad of [{ "tok abc": ["a"] }, { tok: [] }, { tok: ["Bad"] }, { "": ["a"] }, { tok: "a" }, ["tok"], { ["t".repeat(513)]: ["a"] }, { tok: ["t".repeat(65)] }]) {
      expect(workerTokensSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe("isWorkerRoute", () => {
  it("is the five pull-worker POST routes, in both mounts", () => {
    const id = "3f2a9c1e-0000-4000-8000-000000000000";
    for (const p of ["/workers/lease", `/tasks/${id}/heartbeat`, `/tasks/${id}/complete`, `/tasks/${id}/fail`, `/tasks/${id}/release`, "/api/v1/workers/lease", `/api/v1/tasks/${id}/complete`, "/workers/lease/"]) {
      expect(isWorkerRoute("POST", p), p).toBe(true);
    }
    for (const [m, p] of [
      ["GET", "/workers/lease"],
      ["POST", "/tasks"],
      ["GET", `/tasks/${id}`],
      ["POST", `/tasks/${id}/cancel`],
      ["POST", `/tasks/${id}/run`],
      ["POST", `/tasks/a/b/complete`],
      ["POST", "/tasks/batch"],
      ["POST", "/api/v2/workers/lease"],
      ["POST", "/workers/lease/x"],
    ] as const) {
      expect(isWorkerRoute(m, p), `${m} ${p}`).toBe(false);
    }
  });
});

describe("lease tokens", () => {
  it("are per task and per claim, and hold only for their own", async () => {
    const t1 = await leaseTokenFor("claim-1", "task-a");
    expect(t1).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await leaseTokenFor("claim-1", "task-a")).toBe(t1);
    expect(await leaseTokenFor("claim-1", "task-b")).not.toBe(t1);
    expect(await leaseTokenFor("claim-2", "task-a")).not.toBe(t1);
    expect(await leaseTokenHolds(t1, "claim-1", "task-a")).toBe(true);
    expect(await leaseTokenHolds(t1, "claim-1", "task-b")).toBe(false);
    expect(await leaseTokenHolds(t1, "claim-2", "task-a")).toBe(false);
    expect(await leaseTokenHolds(t1, null, "task-a")).toBe(false);
    expect(await leaseTokenHolds("claim-1", "claim-1", "task-a")).toBe(false); // the claim token itself is no lease token
    expect(await leaseTokenHolds(`${t1}x`, "claim-1", "task-a")).toBe(false);
  });
});

describe("currentLeaseS", () => {
  it(`is the lease's last length, within ${MIN_LEASE_S}..${MAX_LEASE_S} s, else ${DEFAULT_LEASE_S}`, () => {
    expect(currentLeaseS({ last_heartbeat: 1000, lease_expires_at: 1000 + 300_000 })).toBe(300);
    expect(currentLeaseS({ last_heartbeat: 0, lease_expires_at: MAX_LEASE_S * 1000 })).toBe(MAX_LEASE_S);
    expect(currentLeaseS({ last_heartbeat: 0, lease_expires_at: (MAX_LEASE_S + 1) * 1000 })).toBe(MAX_LEASE_S);
    expect(currentLeaseS({ last_heartbeat: 0, lease_expires_at: MIN_LEASE_S * 1000 })).toBe(MIN_LEASE_S);
    expect(currentLeaseS({ last_heartbeat: 0, lease_expires_at: (MIN_LEASE_S - 1) * 1000 })).toBe(MIN_LEASE_S);
    expect(currentLeaseS({ last_heartbeat: null, lease_expires_at: 5000 })).toBe(DEFAULT_LEASE_S);
    expect(currentLeaseS({ last_heartbeat: 5000, lease_expires_at: 5000 })).toBe(DEFAULT_LEASE_S);
  });
});

describe("the http executor's 202 hand-off", () => {
  it("leases for the attempt's time, at least TASK_LEASE_S", () => {
    expect(handOffLeaseMs({ TASK_LEASE_S: 120 }, { deadline: 60_000, now: () => 0 })).toBe(120_000);
    expect(handOffLeaseMs({ TASK_LEASE_S: 120 }, { deadline: 600_000, now: () => 0 })).toBe(600_000);
  });

  it("is an outcome that keeps the task running under the new lease, writing nothing else", () => {
    const write = decideOutcome({ id: "t", attempts: 1, max_attempts: 3 }, { id: "t", ok: false, retriable: true, error: "accepted", handOff: 123_456 }, { RESULT_MAX_BYTES: 1024 }, 1000, 0.5, { base_s: 10, max_s: 300 });
    expect(write).toEqual({ id: "t", status: "running", result: null, execution: null, error: null, run_after: null, message: "accepted", lease_expires_at: 123_456 });
  });
});

describe("leasePollMs", () => {
  it(`looks every ${LEASE_POLL_MS} ms when the D1 budget pays for it`, () => {
    expect(leasePollMs(20_000, 1000)).toBe(LEASE_POLL_MS);
    expect(leasePollMs(0, 50)).toBe(LEASE_POLL_MS);
  });

  it("spreads the claims a small budget pays for over the wait, never past the budget", () => {
    for (const [waitMs, budget] of [[20_000, 50], [5_000, 50], [20_000, 100], [20_000, 8]] as const) {
      const poll = leasePollMs(waitMs, budget);
      const claims = 1 + Math.ceil(waitMs / poll);
      expect(claims * CLAIM_STATEMENTS + LEASE_STATEMENT_RESERVE, `${waitMs} ms, ${budget} statements`).toBeLessThanOrEqual(Math.max(budget, CLAIM_STATEMENTS * 2 + LEASE_STATEMENT_RESERVE));
      expect(poll).toBeGreaterThanOrEqual(LEASE_POLL_MS);
    }
    // Workers Free: 50 statements, 15 claims, 14 waits over 20 s.
    expect(leasePollMs(20_000, 50)).toBe(Math.ceil(20_000 / 14));
  });
});
