import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createClient } from "../../src/client";
import type { SeedCoreBinding } from "../../src/service-client";
import { defineTask } from "../../src/tasks/define-task";
import { submitTask, typedBinding, type TaskSubmission } from "../../src/typed-tasks";

const sendEmail = defineTask({ type: "tt_send_email", params: z.object({ to: z.string().email(), cc: z.array(z.string()).optional() }), run: () => null });
const resize = defineTask({ type: "tt_resize", params: z.object({ width: z.number().int() }), run: () => null });
type Mine = typeof sendEmail | typeof resize;

describe("typed submissions (checked by tsc: the @ts-expect-error lines must fail to compile)", () => {
  it("types each type's params by its definition", async () => {
    const ok: TaskSubmission<Mine>[] = [
      { type: "tt_send_email", params: { to: "a@b.c" }, priority: 5 },
      { type: "tt_resize", params: { width: 100 } },
    ];
    // @ts-expect-error: width must be a number
    const badParams: TaskSubmission<Mine> = { type: "tt_resize", params: { width: "100" } };
    // @ts-expect-error: not one of the definitions' types
    const badType: TaskSubmission<Mine> = { type: "tt_unknown", params: {} };
    // @ts-expect-error: a send_email's params are not a resize's
    const crossed: TaskSubmission<Mine> = { type: "tt_send_email", params: { width: 1 } };
    expect([ok.length, badParams.type, badType.type, crossed.type]).toEqual([2, "tt_resize", "tt_unknown", "tt_send_email"]);

    const sent: unknown[] = [];
    const binding = typedBinding<Mine>({ submit: async (input: unknown) => (sent.push(input), {}) } as unknown as SeedCoreBinding);
    await binding.submit({ type: "tt_resize", params: { width: 3 } });
    // @ts-expect-error: the binding's submit is typed too
    await binding.submit({ type: "tt_resize", params: {} }).catch(() => undefined);
    expect(sent).toHaveLength(2);

    const requests: Request[] = [];
    const api = createClient("http://x", { fetch: async (input, init) => (requests.push(new Request(input, init)), new Response("{}", { status: 201 })) });
    await submitTask<Mine>(api, { type: "tt_send_email", params: { to: "a@b.c" } });
    expect(await requests[0]?.json()).toEqual({ type: "tt_send_email", params: { to: "a@b.c" } });
  });
});
