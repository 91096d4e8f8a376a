# The app of seed 001's flow: it expects the migration to have run before it starts, and
# exits at once when its table is missing (as an ORM would fail on its first query).
import http.server
import os

from db import connect

db = connect()
rows = db.run("SELECT version FROM schema_info ORDER BY version")
db.close()
versions = ",".join(row[0] for row in rows)
print(f"app sees schema versions {versions}", flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"schema versions {versions}; build {os.environ.get('BUILD', '?')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
