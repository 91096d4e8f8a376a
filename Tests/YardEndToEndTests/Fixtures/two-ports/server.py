# Listens on PORT ("app <replica> <path>") and on 8080 ("admin <replica> <path>");
# /health answers ok on both.
import os
import threading
import http.server

REPLICA = os.environ.get("RAILWAY_REPLICA_ID", "?")


def handler(name):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path == "/health":
                self.reply(200, "ok")
            elif self.path.startswith("/missing"):
                self.reply(404, "no such page")
            else:
                self.reply(200, f"{name} {REPLICA} {self.path}")

        def reply(self, status, text):
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


admin = http.server.ThreadingHTTPServer(("0.0.0.0", 8080), handler("admin"))
threading.Thread(target=admin.serve_forever, daemon=True).start()
print(f"replica {REPLICA} listening on {os.environ['PORT']} and 8080", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), handler("app")).serve_forever()
