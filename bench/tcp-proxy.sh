#!/usr/bin/env bash
# Benchmark (not a test): Postgres through the TCP proxy (`yard domain --tcp 5432`) against
# a direct connection to the same server's private address and against HAProxy in TCP mode
# (one thread, when installed: apt-get install -y haproxy) in front of it, in the same run. pgbench's
# select-only workload, first on kept connections (the proxy's byte forwarding), then with
# a new connection per transaction (-C: the proxy's accept and upstream connect). Prints
# transactions per second of each and the ratios to the direct connection.
#
#   bench/tcp-proxy.sh [SECONDS] [CLIENTS]      (default 10 s, 8 clients; needs root)
#
# Uses the release build (built if missing) and the sandbox runtime, as `scripts/serve.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
clients="${2:-8}"
export PATH="/opt/swift/usr/bin:$PATH"
pgbench="$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -1)"
[ -x "$pgbench" ] || { echo "pgbench is missing: apt-get install -y postgresql"; exit 1; }
# YARD_BINARY picks another build (a debug one is slower: say so when quoting figures).
if [ -z "${YARD_BINARY:-}" ]; then
    [ -x .build/release/yard ] || scripts/release-build.sh --product yard
fi
yard="${YARD_BINARY:-$PWD/.build/release/yard}"

work="$(mktemp -d /tmp/yard-bench-tcp-XXXXXX)"
serve_pid=""
haproxy_pid=""
cleanup() {
    [ -n "$haproxy_pid" ] && kill "$haproxy_pid" 2>/dev/null || true
    if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
        kill -TERM "$serve_pid"
        wait "$serve_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

export YARD_CONFIG_DIR="$work/cli"
"$yard" serve --data-dir "$work/data" --http-port 0 --api-port 0 --http-host 127.0.0.1 --no-https \
    --network-prefix ybt --private-network-octet 211 --tcp-proxy-ports 24900-24999 >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 300); do
    [ -s "$work/data/serve.json" ] && break
    sleep 0.1
done
[ -s "$work/data/serve.json" ] || { echo "yard serve did not start:"; cat "$work/serve.log"; exit 1; }

mkdir "$work/app"
cd "$work/app"
"$yard" init --name benchtcp >/dev/null
"$yard" add --database postgres >"$work/add.log" 2>&1 || { cat "$work/add.log"; exit 1; }
"$yard" domain --tcp 5432 Postgres >/dev/null
proxy_url="$("$yard" connect Postgres --url)"
# The same server, straight to its private address (the host is on the environment's bridge).
direct="$("$yard" status --json | python3 -c '
import json, sys
status = json.load(sys.stdin)
for entry in status["services"]:
    if entry["service"]["name"] == "Postgres":
        replica = entry["live"]["replicas"][0]
        print("%s:%s" % (replica["address"], replica["port"]))
')"
direct_url="$(python3 -c '
import sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
print(url._replace(netloc=url.netloc.rsplit("@", 1)[0] + "@" + sys.argv[2]).geturl())
' "$proxy_url" "$direct")"

for _ in $(seq 1 50); do
    "$pgbench" -i -q -s 1 "$proxy_url" >"$work/init.log" 2>&1 && break
    sleep 0.2
done

tps() { # URL [extra pgbench flags]
    local url="$1"
    shift
    "$pgbench" -n -S -c "$clients" -j 2 -T "$seconds" "$@" "$url" 2>/dev/null |
        awk '/^tps = / { printf "%d", $3 }'
}

haproxy_url=""
if command -v haproxy >/dev/null; then
    cat >"$work/haproxy.cfg" <<EOF
global
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
listen postgres
    bind 127.0.0.1:24899
    server db $direct
EOF
    haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
    haproxy_pid=$!
    sleep 0.5
    haproxy_url="$(python3 -c '
import sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
print(url._replace(netloc=url.netloc.rsplit("@", 1)[0] + "@127.0.0.1:24899").geturl())
' "$proxy_url")"
fi

echo "pgbench -S, $clients clients, ${seconds}s each (Postgres at $direct; proxy at ${proxy_url##*@})"
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
row() { # LABEL [pgbench flags]
    local label="$1"
    shift
    local direct_tps proxy_tps haproxy_tps="-" haproxy_ratio="-"
    direct_tps=$(tps "$direct_url" "$@")
    proxy_tps=$(tps "$proxy_url" "$@")
    if [ -n "$haproxy_url" ]; then
        haproxy_tps=$(tps "$haproxy_url" "$@")
        haproxy_ratio=$(ratio "$haproxy_tps" "$direct_tps")
    fi
    printf '%-32s %9s %9s %9s %12s %15s\n' "$label" "$direct_tps" "$proxy_tps" "$haproxy_tps" \
        "$(ratio "$proxy_tps" "$direct_tps")" "$haproxy_ratio"
}
printf '%-32s %9s %9s %9s %12s %15s\n' "workload (tps)" "direct" "yard" "haproxy" "yard/direct" "haproxy/direct"
row "kept connections"
row "new connection per transaction" -C
