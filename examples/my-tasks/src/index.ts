import { seedcore } from "seedcore-edge";
import { fetchQuote, saveNote } from "./tasks";

// The Worker: SeedCore's HTTP API, queue consumers and cron backstop, running your task types
// besides the built-ins.
export default seedcore({ tasks: [saveNote, fetchQuote] });

// The Durable Object classes wrangler.toml binds (and the service entrypoint for other Workers):
// a Worker must export them from its main module.
export { OrganismManager, Organ, TaskReaper, TaskWaiter, SeedCoreService } from "seedcore-edge";
