// npm run test:webhooks: a completion webhook end to end. A Node receiver on 127.0.0.1 verifies
// SeedCore-Signature and answers 500 to the first POST and 200 to the next; a fresh dev server
// (WEBHOOK_ALLOW_LOOPBACK=true, as `npm run dev`) runs a task with that callback_url. The
// receiver must get two correctly signed POSTs of the finished task, and the task's timeline
// must show both attempts. Hard deadline: 120 s.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { failAfter, freePort, getJson, sleep, startFreshWorker } from "./dev-server.mjs";

const SECRET = "webhook-test-secret";
failAfter(120_000, "webhook-test");

/** The verification a receiver does (README "Completion webhooks"). */
function verify(header, body) {
  const parts = Object.fromEntries(String(header ?? "").split(",").map((p) => p.split("=")));
  const expected = createHmac("sha256", SECRET).update(`${parts.t}.${body}`).digest("hex");
  const fresh = Math.abs(Date.now() / 1000 - Number(parts.t)) < 300;
  return fresh && typeof parts.v1 === "string" && parts.v1.length === expected.length && timingSafeEqual(Buffer.from(parts.v1), Buffer.from(expected));
}

const received = [];
const receiver = createServer((req, res) => {
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", () => {
    received.push({ valid: verify(req.headers["seedcore-signature"], body), task: JSON.parse(body), attempt: req.headers["seedcore-delivery-attempt"] });
    res.writeHead(received.length === 1 ? 500 : 200).end();
  });
});
const hookPort = await freePort();
await new Promise((resolve) => receiver.listen(hookPort, "127.0.0.1", resolve));

const { worker, base } = await startFreshWorker("webhooks", {
  vars: { WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOW_LOOPBACK: "true", WEBHOOK_RETRY_BASE_S: "1", RATE_LIMIT_ENABLED: "false" },
});
const failures = [];
let passed = 0;
const expect = (ok, what) => (ok ? (passed++, console.log(`  ok   ${what}`)) : (failures.push(what), console.log(`  FAIL ${what}`)));
try {
  const created = await getJson(base, "/tasks", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "ping", callback_url: `http://127.0.0.1:${hookPort}/hook` }),
  });
  expect(created.status === 201, `submit with a loopback callback_url (HTTP ${created.status})`);
  const id = created.body.id;
  const done = await getJson(base, `/tasks/${id}?wait=30`);
  expect(done.body.status === "completed", "the task completes whatever the receiver answers");
  for (let i = 0; i < 100 && received.length < 2; i++) await sleep(200);
  expect(received.length === 2, `the receiver got 2 POSTs (got ${received.length})`);
  expect(received.every((r) => r.valid), "every POST carries a valid SeedCore-Signature");
  expect(received.every((r) => r.task.id === id && r.task.status === "completed"), "each POST is the finished task's JSON");
  expect(received.map((r) => r.attempt).join(",") === "1,2", "the delivery attempts are numbered 1, 2");
  let timeline = [];
  for (let i = 0; i < 50; i++) {
    timeline = (await getJson(base, `/tasks/${id}/events`)).body.items.filter((e) => e.actor === "webhook").map((e) => e.message);
    if (timeline.length >= 2) break;
    await sleep(200);
  }
  expect(timeline[0] === "webhook 500, retry 2 in 1s" && timeline[1] === "webhook 200", `the timeline shows both attempts (${JSON.stringify(timeline)})`);
  expect((await getJson(base, `/tasks/${id}`)).body.webhook_state === "delivered", "webhook_state is delivered");
} catch (err) {
  failures.push(`aborted: ${err instanceof Error ? err.stack : err}`);
} finally {
  await worker.dispose();
  receiver.close();
}
for (const f of failures) console.error(`webhook-test FAILED: ${f}`);
console.log(`webhook-test: ${passed} passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
