# Answers with the request headers it got, as JSON; to any Upgrade request it says 101 and
# then echoes raw bytes, as a replica that accepts every upgrade would (the router must only
# let WebSocket ones through).
import http.server
import json
import os


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        upgrade = self.headers.get("Upgrade")
        if upgrade:
            self.send_response(101)
            self.send_header("Upgrade", upgrade)
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            while True:
                data = self.connection.recv(4096)
                if not data:
                    return
                self.connection.sendall(b"RAW:" + data)
        if self.path.startswith("/env/"):
            body = os.environ.get(self.path[len("/env/"):], "").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = json.dumps([[name, value] for name, value in self.headers.items()]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
