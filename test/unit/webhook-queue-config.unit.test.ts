import { describe, expect, it } from "vitest";
import wranglerToml from "../../wrangler.toml?raw";
import { parseConfig } from "../../src/config";
import { OUTBOUND_PER_HOST } from "../../src/lib/outbound-slots";
import { WEBHOOK_LOST_AFTER_MS } from "../../src/store/webhooks";

/** A numeric setting of the `[[queues.consumers]]` block of `queue`. */
function consumerSetting(queue: string, key: string): number {
  const block = wranglerToml
    .split(/^\[\[/m)
    .find((b) => b.startsWith("queues.consumers]]") && new RegExp(`^queue = "${queue}"$`, "m").test(b));
  const value = block?.match(new RegExp(`^${key} = (\\d+)$`, "m"))?.[1];
  if (value === undefined) throw new Error(`wrangler.toml: no ${key} for consumer ${queue}`);
  return Number(value);
}

describe("the seedcore-webhooks consumer in wrangler.toml", () => {
  const parsed = parseConfig({});
  if (!parsed.ok) throw new Error(parsed.error);
  const { WEBHOOK_TIMEOUT_S, WEBHOOK_MAX_RETRIES } = parsed.config;

  it("ends a full batch to one dead host before the alarm would take its webhooks for lost", () => {
    const waves = Math.ceil(consumerSetting("seedcore-webhooks", "max_batch_size") / OUTBOUND_PER_HOST);
    expect(waves * WEBHOOK_TIMEOUT_S * 1000).toBeLessThan(WEBHOOK_LOST_AFTER_MS);
  });

  it("retries as often as WEBHOOK_MAX_RETRIES says (the timeline names the last try)", () => {
    expect(consumerSetting("seedcore-webhooks", "max_retries")).toBe(WEBHOOK_MAX_RETRIES);
  });
});
