# Answers / with its replica id; /health is the health check; /crash exits with code 3;
# anything else is 404.
import os
import sys
import threading
import http.server

REPLICA = os.environ.get("RAILWAY_REPLICA_ID", "?")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/crash":
            self.reply(200, "crashing")
            threading.Timer(0.1, lambda: os._exit(3)).start()
            return
        if self.path == "/health":
            self.reply(200, "ok")
            return
        if self.path == "/":
            self.reply(200, f"replica {REPLICA} pid {os.getpid()}")
            return
        self.reply(404, "not found")

    def reply(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print(f"replica {REPLICA} listening on {os.environ['PORT']}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
