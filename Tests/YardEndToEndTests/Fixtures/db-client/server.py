# Writes and reads through the database services of its environment, with the psql,
# redis-cli and mysql clients of the host (visible read-only in the sandbox), for the database tests.
import http.server
import json
import os
import subprocess
import urllib.parse


def run(arguments, password):
    # The password goes through the environment, never argv, as a careful app would do.
    environment = dict(os.environ, PGPASSWORD=password, REDISCLI_AUTH=password, MYSQL_PWD=password)
    done = subprocess.run(arguments, capture_output=True, text=True, timeout=20, env=environment)
    return done.returncode, done.stdout.strip(), done.stderr.strip()


def psql(sql):
    url = urllib.parse.urlparse(os.environ["DATABASE_URL"])
    return run(["psql", "-h", url.hostname, "-p", str(url.port), "-U", url.username, "-d", url.path.lstrip("/"),
                "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql], url.password)


def redis(*arguments):
    url = urllib.parse.urlparse(os.environ["REDIS_URL"])
    return run(["redis-cli", "-h", url.hostname, "-p", str(url.port), "--user", url.username, *arguments], url.password)


def mysql(sql):
    url = urllib.parse.urlparse(os.environ["MYSQL_URL"])
    return run(["mysql", "--protocol=TCP", "-h", url.hostname, "-P", str(url.port), "-u", url.username, "-N", "-B",
                "-e", sql, url.path.lstrip("/")], url.password)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/pg/write":
            value = query["value"].replace("'", "''")
            result = psql(f"CREATE TABLE IF NOT EXISTS notes (v text); INSERT INTO notes VALUES ('{value}');")
        elif url.path == "/pg/read":
            result = psql("SELECT string_agg(v, ',' ORDER BY v) FROM notes;")
        elif url.path == "/mysql/write":
            value = query["value"].replace("'", "''")
            result = mysql(f"CREATE TABLE IF NOT EXISTS notes (v TEXT); INSERT INTO notes VALUES ('{value}');")
        elif url.path == "/mysql/read":
            result = mysql("SELECT GROUP_CONCAT(v ORDER BY v SEPARATOR ',') FROM notes;")
        elif url.path == "/redis/write":
            result = redis("SET", "note", query["value"])
        elif url.path == "/redis/read":
            result = redis("GET", "note")
        else:
            result = (0, "ok", "")
        code, out, err = result
        body = json.dumps({"code": code, "out": out, "err": err}).encode()
        self.send_response(200 if code == 0 else 500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print(f"db-client listening on {os.environ['PORT']}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
