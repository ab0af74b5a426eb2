// npm run smoke: a fresh server, one task over HTTP, polled until completed (30 s budget).
import { failAfter, getJson, sleep, startFreshWorker } from "./dev-server.mjs";

failAfter(120_000, "smoke");

const { worker, base } = await startFreshWorker("smoke");
let ok = false;
try {
  const created = await getJson(base, "/tasks", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "general_query", description: "what is 12*(3+4)?" }),
  });
  if (created.status !== 201) throw new Error(`POST /tasks answered ${created.status}: ${JSON.stringify(created.body)}`);
  const id = created.body.id;
  const started = Date.now();
  let task = created.body;
  while (Date.now() - started < 30_000 && task.status !== "completed") {
    await sleep(100);
    task = (await getJson(base, `/tasks/${id.slice(0, 8)}`)).body;
    if (task.status === "failed") throw new Error(`task failed: ${task.error}`);
  }
  if (task.status !== "completed") throw new Error(`task still ${task.status} after 30 s`);
  console.log(`smoke: task ${id.slice(0, 8)} completed in ${Date.now() - started} ms: ${JSON.stringify(task.result?.result ?? task.result)}`);
  const ready = await getJson(base, "/readyz");
  if (ready.status !== 200) throw new Error(`/readyz answered ${ready.status}: ${JSON.stringify(ready.body)}`);
  ok = true;
} catch (err) {
  console.error(`smoke FAILED: ${err instanceof Error ? err.message : err}`);
} finally {
  await worker.dispose();
}
process.exit(ok ? 0 : 1);
