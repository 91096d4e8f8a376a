# Reports what it can see and do from inside its sandbox, for the isolation tests.
import json
import os
import socket
import threading
import time
import http.server
import urllib.parse

APP = os.path.dirname(os.path.abspath(__file__))


def can_write(path):
    try:
        with open(os.path.join(path, f"probe-{os.getpid()}"), "w") as handle:
            handle.write("x")
        os.remove(os.path.join(path, f"probe-{os.getpid()}"))
        return True
    except OSError:
        return False


def can_connect(host, port):
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def burn(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/facts":
            self.reply({
                "uid": os.getuid(),
                "hostname": socket.gethostname(),
                "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                "write_root": can_write("/"),
                "write_etc": can_write("/etc"),
                "write_app": can_write(APP),
                "write_tmp": can_write("/tmp"),
                "private_domain": os.environ.get("RAILWAY_PRIVATE_DOMAIN"),
                "volume": os.environ.get("RAILWAY_VOLUME_MOUNT_PATH"),
                # The platform's database must not be readable from a replica.
                "data_dir_visible": os.path.exists(os.path.join(os.environ.get("PROBE_DATA_DIR", "/nonexistent"), "switchyard.sqlite")),
            })
        elif url.path == "/connect":
            self.reply({"connected": can_connect(query["host"], query["port"])})
        elif url.path == "/resolve":
            try:
                addresses = sorted({info[4][0] for info in socket.getaddrinfo(query["name"], 80, socket.AF_INET)})
            except OSError:
                addresses = []
            self.reply({"addresses": addresses})
        elif url.path == "/alloc":
            blocks = []
            for _ in range(int(query["mb"])):
                blocks.append(bytearray(1024 * 1024))
            self.reply({"allocated": len(blocks)})
        elif url.path == "/burn":
            threading.Thread(target=burn, args=(float(query["seconds"]),), daemon=True).start()
            self.reply({"burning": True})
        elif url.path == "/volume/write":
            with open(os.path.join(os.environ["RAILWAY_VOLUME_MOUNT_PATH"], "note.txt"), "w") as handle:
                handle.write(query["text"])
            self.reply({"written": True})
        elif url.path == "/volume/read":
            with open(os.path.join(os.environ["RAILWAY_VOLUME_MOUNT_PATH"], "note.txt")) as handle:
                self.reply({"text": handle.read()})
        else:
            self.reply({"replica": os.environ.get("RAILWAY_REPLICA_ID"), "port": os.environ.get("PORT")})

    def reply(self, value):
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print(f"probe listening on {os.environ['PORT']}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
