# A uv project: a standard-library HTTP server whose answer uses its one dependency, inflection.
import os
import http.server
from importlib.metadata import version

import inflection

PORT = int(os.environ["PORT"])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.reply(200, "healthy")
        elif self.path == "/":
            word = inflection.pluralize("deployment")
            self.reply(200, f"uv-app ok (inflection {version('inflection')}: {word})")
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


print(f"uv-app listening on {PORT}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
