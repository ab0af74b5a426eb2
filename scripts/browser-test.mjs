// npm run test:browser: Debian's chromium, driven by playwright-core, against a fresh dev server
// on a free loopback port with API_TOKEN set. Enters the token, submits a task with the form,
// sees it reach `completed` in the list, opens its timeline, retries the failed tasks shown with
// "retry all shown" (accepting its confirm()), and takes two screenshots: into a
// temporary directory, or over docs/dashboard*.png with UPDATE_SCREENSHOTS=1 (so CI leaves the
// tracked images alone). Hard deadline: 150 s.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { failAfter, getJson, startFreshWorker } from "./dev-server.mjs";

const DEADLINE_MS = 150_000;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const TOKEN = "browser-test-token";
const SHOTS = process.env.UPDATE_SCREENSHOTS === "1" ? "docs" : mkdtempSync(path.join(tmpdir(), "seedcore-shots-"));

failAfter(DEADLINE_MS, "browser-test");

if (!existsSync(CHROMIUM)) {
  console.error(`browser-test FAILED: ${CHROMIUM} is missing (apt-get install -y chromium)`);
  process.exit(1);
}

const { worker, base } = await startFreshWorker("browser", { vars: { API_TOKEN: TOKEN } });
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const step = (s) => console.log(`browser-test: ${s}`);
const pageErrors = [];
let ok = false;
try {
  const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  page.setDefaultTimeout(20_000);
  page.on("pageerror", (err) => pageErrors.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    // The browser logs every 401 before the token is entered; anything else is a bug (CSP included).
    if (msg.type() === "error" && !/status of 401/.test(msg.text())) pageErrors.push(`console: ${msg.text()}`);
  });
  // Stay on loopback: any request elsewhere fails the test.
  await page.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname !== "127.0.0.1") {
      pageErrors.push(`request off loopback: ${url.href}`);
      return route.abort();
    }
    return route.continue();
  });

  await page.goto(`${base}/`);
  await page.waitForSelector("#token-panel:not([hidden])");
  step("page loaded; the API answered 401, so it asks for the token");
  await page.fill("#token-input", TOKEN);
  await page.click("#token-form button[type=submit]");
  await page.waitForSelector("#count-total");
  await page.waitForSelector("#token-panel", { state: "hidden" });
  const stored = await page.evaluate(() => localStorage.getItem("seedcore_token"));
  if (stored !== TOKEN) throw new Error(`token not kept in localStorage (got ${stored})`);
  step("token saved in localStorage; counts shown");

  // Some background work so the screenshot shows more than one task.
  const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
  const background = [
    { type: "test_task", params: { hello: "edge" } },
    { type: "general_query", description: "what time is it in UTC?" },
    { type: "flaky", params: { fail_times: 1 } },
    { type: "sleep", params: { ms: 1500 } },
    { type: "analyze", description: "quarterly numbers", drift_score: 0.9 },
    { type: "execute", params: { action: "noop" } },
    { type: "plan", params: { goal: ";" }, description: "nothing to plan: fails without retry" },
    { type: "test_task", run_immediately: false, description: "waiting for /run" },
  ];
  const r = await getJson(base, "/tasks/batch", { method: "POST", headers: auth, body: JSON.stringify({ tasks: background }) });
  if (r.status !== 201) throw new Error(`POST /tasks/batch answered ${r.status}: ${JSON.stringify(r.body)}`);

  await page.fill("#f-type", "general_query");
  await page.fill("#f-desc", "what is 6*7?");
  await page.click("#f-submit");
  const link = await page.waitForSelector("#submitted-link");
  const id = await link.getAttribute("data-id");
  step(`submitted ${id} with the form`);

  await page.waitForSelector(`#tasks tr[data-id="${id}"][data-status="completed"]`, { timeout: 30_000 });
  step("it reached completed in the list");

  await page.click(`#tasks tr[data-id="${id}"] a.task-link`);
  await page.waitForSelector(`#task-page:not([hidden]) #timeline li[data-to="completed"]`);
  const timeline = await page.$$eval("#timeline li", (lis) => lis.map((li) => li.getAttribute("data-to")));
  if (JSON.stringify(timeline) !== JSON.stringify(["queued", "running", "completed"])) throw new Error(`unexpected timeline ${JSON.stringify(timeline)}`);
  const result = await page.textContent("#task-result");
  if (!result?.includes("42")) throw new Error(`result does not show the answer: ${result}`);
  step(`timeline ${timeline.join(" → ")}; result shows 42`);
  await page.screenshot({ path: path.join(SHOTS, "dashboard-task.png"), fullPage: true });

  // Back to the list; let the background work settle for the screenshot.
  await page.click("a[href='#/']");
  await page.waitForSelector("#home:not([hidden]) #tasks tbody tr[data-id]");
  await page.waitForSelector(".organ[data-organ='utility_organ_1']");
  // Services (GET /organism/status): every organ replica asked for its isolate's service counts.
  await page.waitForFunction(() => /organ replicas answered (\d+) \/ \1\b/.test(document.getElementById("services-sources")?.textContent ?? ""));
  await page.waitForFunction(() => document.querySelectorAll('#tasks tr[data-status="completed"]').length >= 6, null, { timeout: 40_000 });
  const rows = await page.$$eval("#tasks tbody tr[data-id]", (trs) => trs.length);
  if (rows !== background.length + 1) throw new Error(`list shows ${rows} tasks, wanted ${background.length + 1}`);
  const cancel = await page.$("#tasks tr[data-status='created'] button.cancel");
  if (!cancel) throw new Error("no cancel button on the created task");
  await page.screenshot({ path: path.join(SHOTS, "dashboard.png"), fullPage: true });
  step(`list shows ${rows} tasks; screenshots saved to ${SHOTS}/dashboard.png and dashboard-task.png`);

  // "retry all shown" over the failed filter: a confirm(), then one bulk retry of exactly the shown task.
  await page.selectOption("#filter-status", "failed");
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#tasks tbody tr[data-id]")];
    return rows.length > 0 && rows.every((tr) => tr.getAttribute("data-status") === "failed");
  });
  await page.waitForSelector("#retry-shown:not([hidden])");
  const shownFailed = await page.$$eval("#tasks tbody tr[data-id]", (trs) => trs.map((tr) => tr.getAttribute("data-id")));
  const dialogs = [];
  page.once("dialog", (d) => {
    dialogs.push(d.message());
    void d.accept();
  });
  await page.click("#retry-shown");
  await page.waitForFunction((n) => document.getElementById("flash")?.textContent?.includes(`retried ${n} task`), shownFailed.length);
  if (!/^Retry the \d+ failed or cancelled tasks shown\?/.test(dialogs[0] ?? "")) throw new Error(`unexpected confirm: ${dialogs[0]}`);
  for (const failedId of shownFailed) {
    const ev = await getJson(base, `/tasks/${failedId}/events`, { headers: auth });
    if (!ev.body.items.some((e) => e.message === "bulk retry" && e.from_status === "failed" && e.to_status === "queued")) {
      throw new Error(`task ${failedId} has no bulk retry event: ${JSON.stringify(ev.body.items)}`);
    }
  }
  step(`"retry all shown" asked for confirmation and retried the ${shownFailed.length} failed task(s) shown`);
  await page.selectOption("#filter-status", "");

  // Flow control: a schedule firing every 2 s, a paused type, a key at its limit.
  const post = (p, body) => getJson(base, p, { method: "POST", headers: auth, body: JSON.stringify(body ?? {}) });
  const sched = await post("/schedules", { name: "every-2s", cron: "*/2 * * * * *", task: { type: "ping" } });
  if (sched.status !== 201) throw new Error(`POST /schedules answered ${sched.status}: ${JSON.stringify(sched.body)}`);
  // A type is paused once some task had it (a pause of a name never seen is a 404).
  await post("/tasks", { type: "workflow_step", run_immediately: false });
  await post("/types/workflow_step/pause");
  await post("/tasks/batch", {
    tasks: [
      { type: "workflow_step", description: "held while its type is paused" },
      // Two equal sleeps: tasks of one batch share created_at, so either may take the key's one slot first.
      { type: "sleep", params: { ms: 10000 }, concurrency_key: "browser:k", description: "one holds the key's slot" },
      { type: "sleep", params: { ms: 10000 }, concurrency_key: "browser:k", description: "the other waits for the key" },
    ],
  });
  // The key is full only while the first of them runs (10 s): look for the waiting marker first.
  await page.waitForSelector('#tasks [data-flow="waiting_on_key"]', { timeout: 30_000 });
  await page.waitForSelector('#tasks [data-flow="paused"]');
  await page.waitForFunction(() => Number(document.querySelector('#schedules tr[data-schedule="every-2s"] td.fired')?.textContent ?? 0) >= 2, null, { timeout: 30_000 });
  await page.waitForSelector('#types tr[data-type="workflow_step"]');
  await page.waitForSelector('#keys tr[data-key="browser:k"]');
  await page.screenshot({ path: path.join(SHOTS, "dashboard-flow.png"), fullPage: true });
  step("schedule fired in the schedules panel; paused and waiting-on-key tasks marked; dashboard-flow.png saved");

  if (pageErrors.length) throw new Error(pageErrors.join("\n"));
  ok = true;
} catch (err) {
  console.error(`browser-test FAILED: ${err instanceof Error ? err.message : err}`);
  if (pageErrors.length) console.error(pageErrors.join("\n"));
} finally {
  await browser.close().catch(() => {});
  await worker.dispose();
}
console.log(ok ? "browser-test: OK" : "browser-test: FAILED");
process.exit(ok ? 0 : 1);
