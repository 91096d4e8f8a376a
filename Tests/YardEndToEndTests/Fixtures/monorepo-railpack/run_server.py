# The backend of the two-service monorepo: a standard-library server that imports the core
# package installed editable from packages/core.
import os
import http.server

from monorepo_core import describe

PORT = int(os.environ["PORT"])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.reply(200, "healthy")
        elif self.path == "/":
            self.reply(200, f"monorepo backend ok ({describe()})")
        else:
            self.reply(404, "not found")

    def reply(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print(f"monorepo backend listening on {PORT}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
