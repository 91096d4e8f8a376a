# Run as a build step: tries every target in WALLS_TARGETS ("name=host:port,…") and prints
# which ones it could connect to, as JSON. Never fails, so the build goes on to deploy.
import json
import os
import socket


def can_connect(host, port):
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            return True
    except OSError:
        return False


report = {}
for target in filter(None, os.environ.get("WALLS_TARGETS", "").split(",")):
    name, address = target.split("=", 1)
    host, port = address.rsplit(":", 1)
    report[name] = can_connect(host, port)
print(json.dumps(report))
