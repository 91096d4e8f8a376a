// The background worker: it has no public pages, but answers /health (and /) on $PORT so
// the tests can see it running.
import { createServer } from "node:http";

const port = Number(process.env.PORT);

createServer((request, response) => {
  const path = new URL(request.url, "http://localhost").pathname;
  if (path === "/" || path === "/health") {
    response.writeHead(200, { "content-type": "text/plain" });
    response.end(path === "/health" ? "healthy" : "monorepo-configs worker ok");
  } else {
    response.writeHead(404, { "content-type": "text/plain" });
    response.end("not found");
  }
}).listen(port, "0.0.0.0", () => console.log(`orchestrator worker running, health on ${port}`));
