// A Worker in its own process, so the crash test can SIGKILL it (and workerd) mid-run.
// Usage: node scripts/serve.mjs <port> <persistDir> [varsJson] [entry]
// `entry` replaces wrangler.toml's `main` (a fixture Worker, e.g. scripts/fixtures/work-worker.ts).
import { startWorker } from "./dev-server.mjs";

const [port, persistDir, varsJson = "{}", entry] = process.argv.slice(2);
await startWorker({ port: Number(port), persistDir, vars: JSON.parse(varsJson), entry });
console.log(`serving on 127.0.0.1:${port}`);
