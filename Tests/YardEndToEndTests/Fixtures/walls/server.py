# The attacker's replica: runs the shell command it is sent (as a hostile app would run its
# own code) and answers its exit status and output; serves its build step's report.
import json
import os
import subprocess
import http.server
import urllib.parse

PORT = int(os.environ["PORT"])
APP = os.path.dirname(os.path.abspath(__file__))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/health":
            self.reply({"healthy": True})
        elif url.path == "/run":
            try:
                done = subprocess.run(["/bin/sh", "-c", query["cmd"]], capture_output=True, text=True, timeout=60)
                self.reply({"status": done.returncode, "output": done.stdout + done.stderr})
            except Exception as error:
                self.reply({"status": -1, "output": f"could not run: {error}"})
        elif url.path == "/report":
            with open(os.path.join(APP, "build-report.json")) as handle:
                self.reply(json.load(handle))
        else:
            self.reply({"error": "not found"}, 404)

    def reply(self, value, status=200):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
