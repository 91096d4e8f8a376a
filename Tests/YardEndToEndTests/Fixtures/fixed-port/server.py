# Switchyard end-to-end fixture: an app that listens on 8080 whatever it is told, as apps
# and Dockerfiles that hard-code it do (LISTEN_ON=PORT makes it read $PORT instead).
import http.server
import json
import os

port = int(os.environ["PORT"]) if os.environ.get("LISTEN_ON") == "PORT" else 8080


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        seen = {key: value for key, value in os.environ.items() if key == "PORT" or key.startswith("RAILWAY_")}
        body = json.dumps({"listening": port, "environment": seen}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print(f"fixed-port listening on {port}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
