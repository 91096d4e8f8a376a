#!/bin/sh
# Serves one page saying which start command ran, in which environment, with which variables.
set -e
mkdir -p /tmp/environments-fixture-$PORT
echo "$1 page in $RAILWAY_ENVIRONMENT_NAME; GREETING=$GREETING; SECRET ${SECRET:+set}" > /tmp/environments-fixture-$PORT/index.html
cd /tmp/environments-fixture-$PORT
exec python3 -m http.server "$PORT"
