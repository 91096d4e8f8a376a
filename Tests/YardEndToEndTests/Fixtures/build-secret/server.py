# The app behind the build-secret tests. It never prints or serves BUILD_TOKEN's value: it
# only says whether the variable is visible at run time (a build secret must not be).
import os
import http.server

PORT = int(os.environ["PORT"])
NAME = "build-secret"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.reply(200, "healthy")
        elif self.path == "/":
            visible = "present" if "BUILD_TOKEN" in os.environ else "absent"
            self.reply(200, f"{NAME} ok, BUILD_TOKEN at run time: {visible}")
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


print(f"{NAME} listening on {PORT}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
