import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { LATEST_MIGRATION } from "../../src/store/schema-version";

it("LATEST_MIGRATION names the newest file in migrations/ (so /readyz checks the right one)", () => {
  const names = env.TEST_MIGRATIONS.map((m) => m.name).sort();
  expect(names.at(-1)).toBe(LATEST_MIGRATION);
});
