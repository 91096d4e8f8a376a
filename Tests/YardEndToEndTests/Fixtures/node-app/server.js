// A Node app with no dependencies.
const http = require("http");
const port = Number(process.env.PORT);
http
  .createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`node fixture ${process.version} on ${process.env.RAILWAY_PUBLIC_DOMAIN}`);
  })
  .listen(port, () => console.log(`node fixture listening on ${port}`));
