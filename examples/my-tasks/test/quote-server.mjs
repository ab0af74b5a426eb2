// vitest globalSetup (runs in Node, outside the Workers runtime): a loopback HTTP API for
// fetch_quote. GET /quote → JSON {quote, author}; GET /text → plain text; GET /hang?tag=T never
// answers and records T when the client closes the connection; GET /closed → those tags (JSON);
// anything else → 404.
// Its base URL reaches the tests through `inject("quoteServer")`.
import { createServer } from "node:http";

/** @param {import("vitest/node").TestProject} project */
export default async function setup(project) {
  /** @type {Set<string>} */
  const hanging = new Set();
  /** @type {string[]} */
  const closed = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    if (path === "/hang") {
      const tag = url.searchParams.get("tag") ?? "";
      hanging.add(tag);
      res.on("close", () => (hanging.delete(tag), closed.push(tag)));
      return;
    }
    if (path === "/closed") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ hanging: [...hanging], closed }));
    } else if (path === "/quote") {
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
  return () => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve)));
}
