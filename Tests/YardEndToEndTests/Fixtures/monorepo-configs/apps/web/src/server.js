// The web service. scripts/build.mjs turns this file into build/index.js.
const http = require("node:http");

const builtAt = "__BUILD_STAMP__";
const port = Number(process.env.PORT);

http
  .createServer((request, response) => {
    const path = new URL(request.url, "http://localhost").pathname;
    if (path === "/" || path === "/health") {
      response.writeHead(200, { "content-type": "text/plain" });
      response.end(path === "/health" ? "healthy" : `monorepo-configs web ok, built ${builtAt}`);
    } else {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end("not found");
    }
  })
  .listen(port, "0.0.0.0", () => console.log(`web listening on ${port}`));
