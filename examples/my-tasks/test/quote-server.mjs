// vitest globalSetup (runs in Node, outside the Workers runtime): a loopback HTTP API for
// fetch_quote. GET /quote → JSON {quote, author}; GET /text → plain text; anything else → 404.
// Its base URL reaches the tests through `inject("quoteServer")`.
import { createServer } from "node:http";

/** @param {import("vitest/node").TestProject} project */
export default async function setup(project) {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/quote") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ quote: "Simplicity is prerequisite for reliability.", author: "Edsger W. Dijkstra" }));
    } else if (path === "/text") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("Make it work, make it right, make it fast.\n");
    } else {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("quote server has no port");
  project.provide("quoteServer", `http://127.0.0.1:${address.port}`);
  return () => new Promise((resolve) => server.close(resolve));
}
