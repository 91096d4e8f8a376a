# A Python app with a pip dependency: answers with the version of `six` it imported.
import os
import http.server

import six


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"python fixture, six {six.__version__}, A={os.environ.get('A', '')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print(f"python fixture listening on {os.environ['PORT']}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
