# A poetry project: a standard-library HTTP server whose answer uses its one dependency, humanize.
import os
import http.server
from importlib.metadata import version

import humanize

PORT = int(os.environ["PORT"])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.reply(200, "healthy")
        elif self.path == "/":
            size = humanize.naturalsize(1_500_000)
            self.reply(200, f"poetry-app ok (humanize {version('humanize')}: {size})")
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


print(f"poetry-app listening on {PORT}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
