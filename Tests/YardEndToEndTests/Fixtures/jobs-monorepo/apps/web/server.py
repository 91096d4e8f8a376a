# The web service of seed 000's topology (Python standing in for SvelteKit): it writes jobs
# into Postgres and reads their results, which only the worker writes. It also counts
# visits in Redis, and prints its sealed API_SECRET once, as a careless app would.
import hashlib
import http.server
import json
import os
import time
import urllib.parse

import pg8000.native
import redis


def connect():
    url = urllib.parse.urlparse(os.environ["DATABASE_URL"])
    return pg8000.native.Connection(
        user=url.username, password=url.password, host=url.hostname, port=url.port or 5432,
        database=url.path.lstrip("/"), timeout=10)


def create_table():
    # The database may still be starting (after a restart of the platform): retry.
    for _ in range(120):
        try:
            db = connect()
            db.run("CREATE TABLE IF NOT EXISTS jobs (id serial PRIMARY KEY, payload text NOT NULL, "
                   "result text, processed_by text)")
            db.close()
            return
        except Exception as error:
            print(f"web: database not ready ({type(error).__name__})", flush=True)
            time.sleep(0.5)
    raise SystemExit("web: the database never became ready")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        try:
            if url.path == "/health":
                return self.answer(200, {"ok": True})
            if url.path == "/jobs/add":
                db = connect()
                rows = db.run("INSERT INTO jobs (payload) VALUES (:p) RETURNING id", p=query["payload"])
                db.close()
                return self.answer(200, {"id": rows[0][0]})
            if url.path == "/jobs":
                db = connect()
                rows = db.run("SELECT id, payload, result, processed_by FROM jobs ORDER BY id")
                db.close()
                return self.answer(200, [{"id": r[0], "payload": r[1], "result": r[2], "processedBy": r[3]} for r in rows])
            if url.path == "/count":
                count = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=10).incr("visits")
                return self.answer(200, {"count": count})
            if url.path == "/secret":
                # A digest, never the value: the test compares it with the one it set.
                digest = hashlib.sha256(os.environ.get("API_SECRET", "").encode()).hexdigest()
                return self.answer(200, {"sha256": digest, "deployment": os.environ.get("RAILWAY_DEPLOYMENT_ID")})
            return self.answer(404, {"error": "not found"})
        except Exception as error:
            return self.answer(500, {"error": f"{type(error).__name__}: {error}"})

    def log_message(self, *args):
        pass


print(f"web: the API secret is {os.environ.get('API_SECRET', '')}", flush=True)
create_table()
print(f"web listening on {os.environ['PORT']}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
