import { expect } from "vitest";
import type { TaskMessage } from "../../src/dispatch/message";
import { D1_LIMITS, QUEUE_LIMITS, utf8Bytes } from "../../src/lib/platform-limits";
import type { RecordedStatement } from "./recording-d1";

/** Every way a recorded statement breaks one of D1's production limits (the local runtime is looser). */
export function d1Violations(log: readonly RecordedStatement[]): string[] {
  const out: string[] = [];
  for (const { sql, params, resultBytes, maxValueBytes } of log) {
    const head = sql.replace(/\s+/g, " ").slice(0, 80);
    if (utf8Bytes(sql) > D1_LIMITS.sqlBytes) out.push(`SQL of ${utf8Bytes(sql)} bytes: ${head}`);
    if (params.length > D1_LIMITS.boundParams) out.push(`${params.length} bound parameters: ${head}`);
    for (const p of params) {
      const bytes = typeof p === "string" ? utf8Bytes(p) : p instanceof ArrayBuffer ? p.byteLength : 0;
      if (bytes > D1_LIMITS.valueBytes) out.push(`a bound value of ${bytes} bytes: ${head}`);
    }
    if ((resultBytes ?? 0) > D1_LIMITS.resultBytes) out.push(`a result of ${resultBytes} bytes: ${head}`);
    // A value the statement builds (a JSON aggregate, a concatenation) is refused past the limit too.
    if ((maxValueBytes ?? 0) > D1_LIMITS.valueBytes) out.push(`a returned value of ${maxValueBytes} bytes: ${head}`);
  }
  return out;
}

export interface RecordedSend {
  messages: { body: TaskMessage; delaySeconds?: number }[];
}

/** A queue that records every send and sendBatch as it would reach Cloudflare. */
export function limitQueue() {
  const sends: RecordedSend[] = [];
  const queue = {
    send: async (body: TaskMessage, opts?: QueueSendOptions) => void sends.push({ messages: [{ body, ...opts }] }),
    sendBatch: async (msgs: Iterable<MessageSendRequest<TaskMessage>>) => void sends.push({ messages: [...msgs] }),
  } as unknown as Queue<TaskMessage>;
  return { queue, sends };
}

/** Every way a recorded send breaks Queues' production limits (≈ 100 bytes of metadata per message). */
export function queueViolations(sends: readonly RecordedSend[]): string[] {
  const out: string[] = [];
  for (const { messages } of sends) {
    const sizes = messages.map((m) => utf8Bytes(JSON.stringify(m.body)) + 100);
    if (messages.length > QUEUE_LIMITS.batchMessages) out.push(`sendBatch of ${messages.length} messages`);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (messages.length > 1 && total > QUEUE_LIMITS.batchBytes) out.push(`sendBatch of ${total} bytes`);
    for (const [i, m] of messages.entries()) {
      if ((sizes[i] ?? 0) > QUEUE_LIMITS.messageBytes) out.push(`a message of ${sizes[i]} bytes`);
      if ((m.delaySeconds ?? 0) > QUEUE_LIMITS.delaySeconds) out.push(`a delay of ${m.delaySeconds} s`);
    }
  }
  return out;
}

export function expectWithinLimits(log: readonly RecordedStatement[], sends: readonly RecordedSend[]): void {
  expect(d1Violations(log)).toEqual([]);
  expect(queueViolations(sends)).toEqual([]);
}
