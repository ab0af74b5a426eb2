import { describe, expect, it } from "vitest";
import { OUTBOUND_PER_HOST, OutboundSlots } from "../../src/lib/outbound-slots";
import { OUTBOUND_CONNECTIONS } from "../../src/lib/platform-limits";

/** Requests that answer only when the test says so, recording which have started. */
function gatedRequests() {
  const started: string[] = [];
  const gates = new Map<string, { ok: () => void; fail: (err: Error) => void }>();
  const request = (name: string) => () =>
    new Promise<string>((resolve, reject) => {
      started.push(name);
      gates.set(name, { ok: () => resolve(name), fail: reject });
    });
  const flush = () => new Promise((r) => setTimeout(r, 0));
  return { started, gates, request, flush };
}

describe("OutboundSlots", () => {
  it("runs OUTBOUND_CONNECTIONS (6) requests at once; the next starts only when one ends", async () => {
    expect(OUTBOUND_CONNECTIONS).toBe(6);
    const slots = new OutboundSlots();
    const { started, gates, request, flush } = gatedRequests();
    const names = Array.from({ length: OUTBOUND_CONNECTIONS + 1 }, (_, i) => `r${i}`);
    const results = names.map((n, i) => slots.run(`h${i}.example.com`, request(n)));
    await flush();
    expect(started).toEqual(names.slice(0, OUTBOUND_CONNECTIONS));
    gates.get("r2")!.ok();
    expect(await results[2]).toBe("r2");
    await flush();
    expect(started).toEqual(names);
    for (const n of names) gates.get(n)!.ok();
    expect(await Promise.all(results)).toEqual(names);
  });

  it("lets one host hold OUTBOUND_PER_HOST (4) slots, never more: a slow host leaves slots to the others", async () => {
    expect(OUTBOUND_PER_HOST).toBe(4);
    const slots = new OutboundSlots();
    const { started, gates, request, flush } = gatedRequests();
    for (let i = 0; i < 12; i++) void slots.run("slow.example.com", request(`slow${i}`));
    await flush();
    expect(started).toEqual(["slow0", "slow1", "slow2", "slow3"]);
    void slots.run("fast.example.com", request("fast0"));
    void slots.run("fast.example.com", request("fast1"));
    void slots.run("fast.example.com", request("fast2"));
    await flush();
    expect(started.slice(4)).toEqual(["fast0", "fast1"]);
    gates.get("slow0")!.ok();
    await flush();
    // The free slot goes to the host with fewer in flight (fast: 2) before the slow one (3).
    expect(started.slice(6)).toEqual(["fast2"]);
  });

  it("a request that fails, or throws before it starts, frees its slot and rejects its caller", async () => {
    const slots = new OutboundSlots(1);
    const { started, gates, request, flush } = gatedRequests();
    const failing = slots.run("a.example.com", request("a"));
    const throwing = slots.run("b.example.com", () => {
      throw new Error("bad request");
    });
    const after = slots.run("c.example.com", request("c"));
    await flush();
    expect(started).toEqual(["a"]);
    gates.get("a")!.fail(new Error("connection reset"));
    await expect(failing).rejects.toThrow("connection reset");
    await expect(throwing).rejects.toThrow("bad request");
    await flush();
    gates.get("c")!.ok();
    expect(await after).toBe("c");
  });
});
