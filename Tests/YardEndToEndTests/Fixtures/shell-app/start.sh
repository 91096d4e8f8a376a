#!/bin/sh
# A shell app: writes its page, then serves the folder with Python's built-in server.
set -e
mkdir -p /tmp/shell-fixture-$PORT
echo "shell fixture on $RAILWAY_SERVICE_NAME" > /tmp/shell-fixture-$PORT/index.html
cd /tmp/shell-fixture-$PORT
exec python3 -m http.server "$PORT"
