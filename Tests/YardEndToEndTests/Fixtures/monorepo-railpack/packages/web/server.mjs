// The front-end of the two-service monorepo: answers / with the backend URL it was given
// and /api/health with a JSON health report. It refuses to start without a build.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

const info = JSON.parse(readFileSync(new URL("./build/info.json", import.meta.url), "utf8"));
const apiURL = process.env.NEXT_PUBLIC_API_URL ?? "";
const port = Number(process.env.PORT);

createServer((request, response) => {
  const path = new URL(request.url, "http://localhost").pathname;
  if (path === "/api/health") {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ status: "healthy", service: info.service }));
  } else if (path === "/") {
    response.writeHead(200, { "content-type": "text/plain" });
    response.end(`monorepo frontend ok, NEXT_PUBLIC_API_URL=${apiURL}, built ${info.builtAt}`);
  } else {
    response.writeHead(404, { "content-type": "text/plain" });
    response.end("not found");
  }
}).listen(port, "0.0.0.0", () => console.log(`monorepo frontend listening on ${port}`));
