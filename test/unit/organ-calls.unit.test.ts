import { describe, expect, it } from "vitest";
import { callReplicas, type OrganCall } from "../../src/dispatch/organ-calls";
import { decideOutcome } from "../../src/dispatch/retry-policy";
import type { OrganTask, OrganTaskResult } from "../../src/organism/organ-contracts";

const task = (id: string): OrganTask => ({ id, type: "ping", params: {}, description: null, domain: null, attempt: 1 });
const ran = (id: string): OrganTaskResult => ({ task_id: id, success: true, organ_id: "o", replica: 0, agent_id: "o_agent_0", retry: true, latency_ms: 1 });

describe("callReplicas", () => {
  it("gives back the attempt of a task a replica did not run (not initialized: retired by a replica change), and only of that one", async () => {
    const call: OrganCall = async (replica, tasks) =>
      tasks.map((t) =>
        replica === "o#3"
          ? { task_id: t.id, success: false, organ_id: "uninitialized", replica: 0, agent_id: null, error: "organ is not initialized", retry: true, not_run: true, latency_ms: 0 }
          : ran(t.id),
      );
    const replies = await callReplicas([{ replica: "o", task: task("a") }, { replica: "o#3", task: task("b") }], call, 1000);
    expect(replies.get("a")).toMatchObject({ ok: true });
    expect(replies.get("b")).toEqual({ ok: false, error: "organ 'o#3': organ is not initialized", notRun: true });
    // Through the retry policy: back to retry with the attempt refunded, however many were used.
    const reply = replies.get("b")!;
    if (reply.ok) throw new Error("unreachable");
    const write = decideOutcome({ id: "b", attempts: 3, max_attempts: 3 }, { id: "b", ok: false, retriable: true, error: reply.error, notRun: true }, { RETRY_BASE_S: 10, RETRY_MAX_S: 300, RESULT_MAX_BYTES: 1024 }, 0, 0.5);
    expect(write).toMatchObject({ status: "retry", refund_attempt: true });
  });

  it("fails only the tasks of a replica that returned nothing for them, as a run that counts", async () => {
    const replies = await callReplicas([{ replica: "o", task: task("c") }], async () => [], 1000);
    expect(replies.get("c")).toEqual({ ok: false, error: "organ 'o' returned no result", notRun: false });
  });
});
