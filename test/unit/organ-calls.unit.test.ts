import { describe, expect, it } from "vitest";
import { callReplica, type OrganCall } from "../../src/dispatch/organ-calls";
import { decideOutcome } from "../../src/dispatch/retry-policy";
import { CircuitOpenError } from "../../src/lib/circuit-breaker";
import type { RunReport, TaskWork } from "../../src/organism/organ-contracts";

const POLICY = { base_s: 10, max_s: 300 };
const CONFIG = { RESULT_MAX_BYTES: 1024 };
const work = (id: string): TaskWork => ({ id, type: "ping", params: {}, description: null, domain: null, attempt: 1, token: null, deadline: 0, parents: null, last_heartbeat: null });
const ran = (id: string): RunReport => ({ task_id: id, verdict: { ok: true, result: { pong: true } }, organ_id: "o", replica: 0, agent_id: "o_agent_0", latency_ms: 1 });
const notInitialized = (id: string): RunReport => ({
  task_id: id, verdict: { ok: false, retriable: true, error: "organ is not initialized" }, organ_id: "uninitialized", replica: 0, agent_id: null, latency_ms: 0, not_run: true,
});

describe("callReplica", () => {
  it("gives back the attempt of a task a replica did not run (not initialized: retired by a replica change), and only of that one", async () => {
    const call: OrganCall = async (replica, w) => (replica === "o#3" ? notInitialized(w.id) : ran(w.id));
    const [a, b] = await Promise.all([callReplica("o", work("a"), call, 1000), callReplica("o#3", work("b"), call, 1000)]);
    expect(a).toEqual({ ok: true, report: ran("a") });
    expect(b).toEqual({ ok: false, error: "organ 'o#3': organ is not initialized", notRun: true });
    // Through the retry policy: back to retry with the attempt refunded, however many were used.
    if (b.ok) throw new Error("unreachable");
    const write = decideOutcome({ id: "b", attempts: 3, max_attempts: 3 }, { id: "b", ok: false, retriable: true, error: b.error, notRun: true }, CONFIG, 0, 0.5, POLICY);
    expect(write).toMatchObject({ status: "retry", refund_attempt: true });
  });

  it("a task that ran and failed is the task's own verdict, not a failed call", async () => {
    const failed: RunReport = { ...ran("c"), verdict: { ok: false, retriable: false, error: "bad input" } };
    expect(await callReplica("o", work("c"), async () => failed, 1000)).toEqual({ ok: true, report: failed });
  });

  it("a replica that cannot be reached fails its task as a run that counts; an open breaker or overload gives the attempt back", async () => {
    expect(await callReplica("o", work("d"), async () => { throw new Error("network connection lost"); }, 1000)).toEqual({
      ok: false, error: "organ 'o' unavailable: network connection lost", notRun: false,
    });
    const overloaded = Object.assign(new Error("too many requests"), { overloaded: true });
    expect(await callReplica("o", work("e"), async () => { throw overloaded; }, 1000)).toMatchObject({ ok: false, notRun: true });
    expect(await callReplica("o", work("f"), async () => { throw new CircuitOpenError("organ:o", 5000); }, 1000)).toMatchObject({ ok: false, notRun: true, retryAfterMs: 5000 });
  });

  it("passes the task's work and the timeout to the call unchanged", async () => {
    const seen: [string, TaskWork, number][] = [];
    await callReplica("o#1", work("g"), async (r, w, ms) => (seen.push([r, w, ms]), ran(w.id)), 1234);
    expect(seen).toEqual([["o#1", work("g"), 1234]]);
  });
});
