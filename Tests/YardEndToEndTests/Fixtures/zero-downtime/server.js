// Switchyard end-to-end fixture for zero-downtime deploys: quick and 2-second requests,
// and a WebSocket endpoint written with the standard library only. It exits at once on
// SIGTERM and runs with default settings.
const http = require("http");
const crypto = require("crypto");

const deployment = process.env.RAILWAY_DEPLOYMENT_ID || "unknown";
const server = http.createServer((req, res) => {
  if (req.url.startsWith("/slow")) {
    setTimeout(() => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`slow ok from ${deployment}`);
    }, 2000);
    return;
  }
  res.writeHead(200, { "content-type": "text/plain" });
  res.end(`ok from ${deployment}`);
});

// RFC 6455 handshake, a greeting frame, and a close frame answered with a close frame.
server.on("upgrade", (req, socket) => {
  const key = req.headers["sec-websocket-key"];
  if (!req.url.startsWith("/ws") || !key) {
    socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    return;
  }
  const accept = crypto.createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`
  );
  const greeting = Buffer.from(`hello from ${deployment}`);
  socket.write(Buffer.concat([Buffer.from([0x81, greeting.length]), greeting]));
  socket.on("data", (data) => {
    if ((data[0] & 0x0f) === 0x8) {
      socket.end(Buffer.from([0x88, 0x02, 0x03, 0xe8]));
    }
  });
  socket.on("error", () => {});
});

server.listen(Number(process.env.PORT), () => console.log(`listening for ${deployment}`));

// No graceful shutdown: SIGTERM ends the process at once, whatever it is serving, so only
// the platform's draining keeps requests from being cut.
process.on("SIGTERM", () => process.exit(0));
