// Switchyard end-to-end fixture: a service that sleeps when idle (railway.toml); with
// railway.steady.toml, a neighbour that stays awake on the same private network.
const http = require("http");
const started = Date.now();
http
  .createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`sleepy ok (process up ${Date.now() - started} ms) deployment ${process.env.RAILWAY_DEPLOYMENT_ID}`);
  })
  .listen(Number(process.env.PORT), () => console.log("sleepy listening"));
