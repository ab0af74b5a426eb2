/**
 * Cloudflare's documented limits, which production enforces and the local runtime does not
 * (locally D1 takes values up to ≈ 2.2 MB and sendBatch up to ≈ 288 KB). Every statement that
 * binds a JSON array, every queue send and every pass is sized from here, with SAFETY_MARGIN.
 * Queues count 1 KB as 1,000 bytes.
 */

/** https://developers.cloudflare.com/d1/platform/limits/ */
export const D1_LIMITS = {
  boundParams: 100,
  sqlBytes: 100_000,
  /** Per bound string or BLOB, and per table row. */
  valueBytes: 2_000_000,
  resultBytes: 50_000_000,
  /** Workers Paid; Free allows 50. */
  queriesPerInvocation: 1_000,
} as const;

/** https://developers.cloudflare.com/queues/platform/limits/ */
export const QUEUE_LIMITS = {
  /** Includes ≈ 100 bytes of metadata the platform adds. */
  messageBytes: 128_000,
  batchMessages: 100,
  batchBytes: 256_000,
  /** The docs now allow 24 h; 12 h has been the limit for longer, so we stay under it. */
  delaySeconds: 12 * 60 * 60,
} as const;

/** https://developers.cloudflare.com/durable-objects/platform/limits/ (RPC payloads). */
export const RPC_LIMITS = { messageBytes: 32 * 1024 * 1024 } as const;

/** https://developers.cloudflare.com/workers/platform/limits/ (memory per isolate, Workers and Durable Objects). */
export const WORKER_MEMORY_BYTES = 128 * 1024 * 1024;

/**
 * https://developers.cloudflare.com/workers/platform/limits/#simultaneous-open-connections (and
 * the Durable Objects limits page: "same as Workers"): an invocation has at most six connections
 * waiting for response headers; a seventh fetch waits for a free one, with any timer it was given
 * already running. The local runtime does not enforce it, so we do (see OutboundSlots).
 */
export const OUTBOUND_CONNECTIONS = 6;

/** We plan to use at most this share of any limit: headroom for encodings and metadata we do not count. */
export const SAFETY_MARGIN = 0.75;

export const withMargin = (limit: number): number => Math.floor(limit * SAFETY_MARGIN);

const encoder = new TextEncoder();
export const utf8Bytes = (s: string): number => encoder.encode(s).length;

/** A JSON array built from pre-serialised items, with its exact size in bytes. */
export interface JsonChunk<T> {
  items: T[];
  json: string;
  bytes: number;
}

/**
 * Splits `items` into JSON arrays of at most `maxBytes` (UTF-8) and `maxCount` items, serialising
 * each item once. An item larger than `maxBytes` on its own is a caller bug (inputs are validated
 * far below every limit), so it throws rather than sending something production would refuse.
 */
export function chunkJsonArray<T>(items: readonly T[], maxBytes: number, maxCount = Number.POSITIVE_INFINITY): JsonChunk<T>[] {
  const chunks: JsonChunk<T>[] = [];
  let current: { items: T[]; parts: string[]; bytes: number } = { items: [], parts: [], bytes: 2 };
  const flush = () => {
    if (current.items.length === 0) return;
    chunks.push({ items: current.items, json: `[${current.parts.join(",")}]`, bytes: current.bytes });
    current = { items: [], parts: [], bytes: 2 };
  };
  for (const item of items) {
    const part = JSON.stringify(item);
    const bytes = utf8Bytes(part);
    if (bytes + 2 > maxBytes) throw new Error(`one item of ${bytes} bytes exceeds the ${maxBytes}-byte chunk budget`);
    const separator = current.items.length > 0 ? 1 : 0;
    if (current.items.length >= maxCount || current.bytes + separator + bytes > maxBytes) flush();
    current.bytes += (current.items.length > 0 ? 1 : 0) + bytes;
    current.items.push(item);
    current.parts.push(part);
  }
  flush();
  return chunks;
}

/** The budget for one JSON array bound into a D1 statement. */
export const D1_JSON_BUDGET_BYTES = withMargin(D1_LIMITS.valueBytes);
