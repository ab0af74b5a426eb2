// A Worker in its own process, so the crash test can SIGKILL it (and workerd) mid-run.
// Usage: node scripts/serve.mjs <port> <persistDir> [varsJson]
import { startWorker } from "./dev-server.mjs";

const [port, persistDir, varsJson = "{}"] = process.argv.slice(2);
await startWorker({ port: Number(port), persistDir, vars: JSON.parse(varsJson) });
console.log(`serving on 127.0.0.1:${port}`);
