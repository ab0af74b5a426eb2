import type { TaskMessage } from "../../src/dispatch/message";

/** A queue that records what is sent to it instead of delivering it. */
export function recordingQueue() {
  const sent: MessageSendRequest<TaskMessage>[] = [];
  const queue = {
    send: async (body: TaskMessage, opts?: QueueSendOptions) => void sent.push({ body, ...opts }),
    sendBatch: async (msgs: Iterable<MessageSendRequest<TaskMessage>>) => void sent.push(...msgs),
  } as unknown as Queue<TaskMessage>;
  return { queue, sent };
}
