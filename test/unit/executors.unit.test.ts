import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parseConfig } from "../../src/config";
import { defineTask } from "../../src/tasks/define-task";
import { PermanentError, RetryAfterError } from "../../src/tasks/errors";
import { retryAfterSeconds, runHttp, serviceError } from "../../src/tasks/executors";
import { definitionFor } from "../../src/tasks/registry";
import { fakeTaskContext } from "../helpers/task-context";

const errorOf = (vars: Record<string, string>) => {
  const parsed = parseConfig(vars);
  return parsed.ok ? null : parsed.error;
};

describe("TASK_EXECUTORS", () => {
  it("is empty by default and parses http and service executors", () => {
    const none = parseConfig({});
    expect(none.ok && none.config.TASK_EXECUTORS).toEqual({});
    const parsed = parseConfig({
      WEBHOOK_SECRET: "s",
      TASK_EXECUTORS: JSON.stringify({ resize: { kind: "http", url: "https://img.example.com/run" }, score: { kind: "service", binding: "SCORER", method: "score" } }),
    });
    expect(parsed.ok && parsed.config.TASK_EXECUTORS).toEqual({
      resize: { kind: "http", url: "https://img.example.com/run" },
      score: { kind: "service", binding: "SCORER", method: "score" },
    });
  });

  it("refuses bad JSON, unknown kinds, bad types and fields, naming them", () => {
    expect(errorOf({ TASK_EXECUTORS: "{nope" })).toMatch(/^invalid configuration: TASK_EXECUTORS: must be a JSON object/);
    expect(errorOf({ TASK_EXECUTORS: JSON.stringify({ a: { kind: "ftp" } }) })).toMatch(/TASK_EXECUTORS\.a\.kind/);
    expect(errorOf({ TASK_EXECUTORS: JSON.stringify({ "Bad Type": { kind: "service", binding: "X" } }) })).toMatch(/TASK_EXECUTORS/);
    expect(errorOf({ TASK_EXECUTORS: JSON.stringify({ a: { kind: "service", binding: "not a name" } }) })).toMatch(/TASK_EXECUTORS\.a\.binding: must be a binding name/);
    expect(errorOf({ TASK_EXECUTORS: JSON.stringify({ a: { kind: "service", binding: "X", method: "fetch" } }) })).toMatch(/TASK_EXECUTORS\.a\.method: is reserved/);
    expect(errorOf({ TASK_EXECUTORS: JSON.stringify({ a: { kind: "service", binding: "X", extra: 1 } }) })).toMatch(/TASK_EXECUTORS\.a/);
    expect(errorOf({ TASK_EXECUTORS: "[]" })).toMatch(/TASK_EXECUTORS/);
  });

  it("applies the webhook address rules to http urls, and needs WEBHOOK_SECRET to sign", () => {
    const at = (url: string, extra: Record<string, string> = {}) => errorOf({ WEBHOOK_SECRET: "s", TASK_EXECUTORS: JSON.stringify({ a: { kind: "http", url } }), ...extra });
    expect(at("http://img.example.com/run")).toMatch(/TASK_EXECUTORS\.a\.url: must be https/);
    expect(at("https://10.0.0.1/run")).toMatch(/TASK_EXECUTORS\.a\.url: host 10\.0\.0\.1 is a private address/);
    expect(at("http://127.0.0.1:8787/run")).toMatch(/must be https/);
    expect(at("http://127.0.0.1:8787/run", { WEBHOOK_ALLOW_LOOPBACK: "true" })).toBeNull();
    expect(at("http://127.0.0.1:8787/run", { EXECUTOR_ALLOW_LOOPBACK: "true" })).toBeNull();
    expect(at("http://127.0.0.1:8787/run", { WEBHOOK_ALLOW_LOOPBACK: "true", EXECUTOR_ALLOW_LOOPBACK: "false" })).toMatch(/must be https/);
    expect(errorOf({ TASK_EXECUTORS: JSON.stringify({ a: { kind: "http", url: "https://img.example.com/run" } }) })).toMatch(/TASK_EXECUTORS\.a: an http executor needs WEBHOOK_SECRET/);
  });

  it("defines types of its own (any JSON object as params) and overrides a defined type's executor", () => {
    const parsed = parseConfig({ TASK_EXECUTORS: JSON.stringify({ only_config: { kind: "service", binding: "X" }, ping: { kind: "service", binding: "Y" } }) });
    if (!parsed.ok) throw new Error(parsed.error);
    const own = definitionFor("only_config", parsed.config);
    expect(own?.executor).toEqual({ kind: "service", binding: "X" });
    expect(own?.params.safeParse({ any: [1] }).success).toBe(true);
    expect(own?.params.safeParse("not an object").success).toBe(false);
    expect(definitionFor("only_config", parsed.config)).toBe(own);
    expect(definitionFor("ping", parsed.config)?.executor).toEqual({ kind: "service", binding: "Y" });
    expect(definitionFor("ping", {})?.executor).toBeUndefined();
    expect(definitionFor("nobody", parsed.config)).toBeUndefined();
  });
});

describe("defineTask with an executor", () => {
  it("builds run from the executor, and refuses both or a bad executor", () => {
    const def = defineTask({ type: "ut_exec", params: z.object({}), executor: { kind: "service", binding: "X" } });
    expect(typeof def.run).toBe("function");
    expect(() => defineTask({ type: "ut_both", params: z.object({}), executor: { kind: "service", binding: "X" }, run: () => 1 } as never)).toThrow(/not both/);
    expect(() => defineTask({ type: "ut_bad", params: z.object({}), executor: { kind: "ftp" } as never })).toThrow(/executor/);
  });
});

describe("answers and errors", () => {
  it("reads Retry-After as seconds or an HTTP date", () => {
    const now = Date.UTC(2026, 0, 1);
    expect(retryAfterSeconds("30", now)).toBe(30);
    expect(retryAfterSeconds(new Date(now + 90_000).toUTCString(), now)).toBe(90);
    expect(retryAfterSeconds("soon", now)).toBeNull();
    expect(retryAfterSeconds(null, now)).toBeNull();
  });

  it("maps service errors by message prefix", () => {
    expect(serviceError(new Error("permanent: bad input"))).toBeInstanceOf(PermanentError);
    const later = serviceError(new Error("retry_after=12: busy"));
    expect(later).toBeInstanceOf(RetryAfterError);
    expect((later as RetryAfterError).retryAfterS).toBe(12);
    const other = serviceError(new Error("boom"));
    expect(other).not.toBeInstanceOf(PermanentError);
    expect(other).not.toBeInstanceOf(RetryAfterError);
  });

  it("refuses a loopback url when deployed, before sending anything", async () => {
    const { ctx } = fakeTaskContext({ env: { WEBHOOK_SECRET: "s" } as unknown as Env });
    await expect(runHttp({ kind: "http", url: "http://127.0.0.1:9/x" }, {}, ctx)).rejects.toThrow(PermanentError);
    await expect(runHttp({ kind: "http", url: "http://127.0.0.1:9/x" }, {}, ctx)).rejects.toThrow(/url must be https/);
  });
});
