// npm run schedule-check: a schedule of `*/5 * * * * *` on a dev server yields exactly one task per
// five-second slot, with no slot skipped or doubled, across a SIGKILL and restart of the server on
// the same state (the alarm survives the restart and fires the slots missed meanwhile, which are
// inside SCHEDULE_GRACE_S). Prints the slots seen. Hard deadline: 100 s.
import { failAfter, freePort, getJson, migratedStateDir, sleep, spawnServer } from "./dev-server.mjs";

const NAME = "every-five-seconds";
const SLOT_MS = 5000;
const RUN_MS = 11_000;
const VARS = { RATE_LIMIT_ENABLED: "false" };

failAfter(100_000, "schedule-check");

const persistDir = migratedStateDir("schedule");
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const json = { "content-type": "application/json" };

/** The schedule's tasks, by slot, from GET /tasks (the only tasks on this server are the schedule's). */
async function slotTasks() {
  const { status, body } = await getJson(base, "/tasks?type=ping&limit=200");
  if (status !== 200) throw new Error(`GET /tasks answered ${status}`);
  const prefix = `schedule:${NAME}:`;
  return body.items.filter((t) => t.idempotency_key?.startsWith(prefix)).map((t) => ({ slot: Date.parse(t.idempotency_key.slice(prefix.length)), status: t.status }));
}

let server = await spawnServer(port, persistDir, VARS);
const created = await getJson(base, "/schedules", {
  method: "POST",
  headers: json,
  body: JSON.stringify({ name: NAME, cron: "*/5 * * * * *", task: { type: "ping" } }),
});
if (created.status !== 201) throw new Error(`POST /schedules answered ${created.status}: ${JSON.stringify(created.body)}`);
const firstSlot = Date.parse(created.body.next_run_at);
await sleep(RUN_MS);

process.kill(-server.pid, "SIGKILL");
const killedAt = Date.now();
await sleep(2000);
server = await spawnServer(port, persistDir, VARS);
const restartedAt = Date.now();
await getJson(base, "/health"); // any request re-arms the alarm if it were lost (it is not: alarms persist)
await sleep(RUN_MS);
const checkedAt = Date.now();
const tasks = await slotTasks();
process.kill(-server.pid, "SIGKILL");

const slots = tasks.map((t) => t.slot).sort((a, b) => a - b);
const problems = [];
const duplicates = slots.filter((s, i) => i > 0 && s === slots[i - 1]);
if (duplicates.length) problems.push(`slots fired twice: ${duplicates.map((s) => new Date(s).toISOString()).join(", ")}`);
// Every slot from the first to the last one due a little before the check must have its task.
const lastDue = Math.floor((checkedAt - 1500) / SLOT_MS) * SLOT_MS;
for (let s = firstSlot; s <= lastDue; s += SLOT_MS) if (!slots.includes(s)) problems.push(`slot ${new Date(s).toISOString()} has no task`);
const downSlots = slots.filter((s) => s > killedAt && s < restartedAt).length;
const sinceRestart = slots.filter((s) => s >= restartedAt).length;
if (sinceRestart < 2) problems.push(`only ${sinceRestart} slot(s) fired after the restart`);
console.log(`schedule-check: ${slots.length} slots from ${new Date(firstSlot).toISOString()} to ${new Date(slots.at(-1) ?? firstSlot).toISOString()}, ` +
  `${downSlots} fell while the server was down, ${sinceRestart} after the restart; ${tasks.filter((t) => t.status === "completed").length} completed`);
for (const p of problems) console.error(`schedule-check FAILED: ${p}`);
console.log(`schedule-check: ${problems.length === 0 ? 1 : 0} passed, ${problems.length === 0 ? 0 : 1} failed`);
process.exit(problems.length === 0 ? 0 : 1);
