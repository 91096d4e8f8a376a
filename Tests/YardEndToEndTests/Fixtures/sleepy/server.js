// Switchyard end-to-end fixture: a service that sleeps when idle (railway.toml).
const http = require("http");
const started = Date.now();
http
  .createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`sleepy ok (process up ${Date.now() - started} ms)`);
  })
  .listen(Number(process.env.PORT), () => console.log("sleepy listening"));
