#!/usr/bin/env bash
# Benchmark (not a test): the same Dockerfile service on one machine (the sandbox runtime) and
# on a two-node Docker swarm (the swarm runtime, scripts/test-dockerd.sh's private swarm), in
# the same run: the time from `yard up` to the first answer through the router (build
# included; the build itself is the same on both), a redeploy of the built image, and a
# scale-out from 2 to 8 replicas (`yard up` with numReplicas 8, start-first: 8 new replicas
# started and health-checked before the 2 old ones stop). Prints one line per figure.
#
#   flock /work/swarm-test.lock bench/swarm.sh     (root; the swarm's addresses are fixed, so
#                                                   one swarm runs at a time: take the lock)
#
# YARD=.build/release/yard uses another build (default: the debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
export PATH="/opt/swift/usr/bin:$PATH"
yard="${YARD:-$PWD/.build/debug/yard}"
[ -x "$yard" ] || { echo "no $yard: swift build first (or set YARD)" >&2; exit 1; }
debian=/var/cache/switchyard/debootstrap/bookworm-minbase.tar
[ -s "$debian" ] || { echo "no Debian root filesystem in $debian: run the YardImageTests once (or yard image import --debootstrap bookworm)" >&2; exit 1; }

# Short: podman refuses a runroot (here $work/<runtime>/data/images/run) over 50 characters.
work="$(mktemp -d /tmp/ybs-XXXXXX)"
chmod 711 "$work"
swarm="/tmp/yard-dockerd-bench$(basename "$work" | tail -c 7 | tr 'A-Z' 'a-z')"
serve_pid=""
stop_server() {
    if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
        kill -TERM "$serve_pid"
        wait "$serve_pid" 2>/dev/null || true
    fi
    serve_pid=""
}
cleanup() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        for log in "$work"/*/serve.log; do [ -s "$log" ] && { echo "$log:" >&2; tail -n 20 "$log" >&2; }; done
    fi
    stop_server
    bash "$repo/scripts/test-dockerd.sh" stop "$swarm" >/dev/null 2>&1 || true
    grep -o " $work/[^ ]*" /proc/self/mounts | sort -r | while read -r target; do umount --lazy "$target" || true; done
    # Lazy unmounts finish in the background: a first removal can find a folder still busy.
    rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work"; }
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# GETs / through the router with the service's host until it answers 200 (60 s at most).
wait_live() {
    local port="$1" host="$2"
    for _ in $(seq 1 1200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" "http://127.0.0.1:$port/")" = 200 ] && return 0
        sleep 0.05
    done
    echo "the service never answered through the router" >&2
    return 1
}

# One runtime: starts a server, deploys, redeploys, scales 2→8; prints the figures.
run() {
    local runtime="$1" octet="$2"
    shift 2
    local dir="$work/$runtime"
    mkdir -p "$dir/data"
    podman --root "$dir/data/images/storage" --runroot "$dir/data/images/run" --storage-driver overlay import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["bash"]' \
        "$debian" docker.io/library/debian:bookworm-slim >/dev/null
    export YARD_CONFIG_DIR="$dir/cli"
    "$yard" serve --data-dir "$dir/data" --http-port 0 --api-port 0 --http-host 127.0.0.1 --runtime "$runtime" \
        --network-prefix "yb$octet" --private-network-octet "$octet" "$@" >"$dir/serve.log" 2>&1 &
    serve_pid=$!
    for _ in $(seq 1 600); do
        [ -s "$dir/data/serve.json" ] && break
        sleep 0.1
    done
    [ -s "$dir/data/serve.json" ] || { echo "yard serve ($runtime) did not start:" >&2; cat "$dir/serve.log" >&2; exit 1; }
    local port
    port=$(sed -n 's/.*"routerPort" *: *"\{0,1\}\([0-9]*\).*/\1/p' "$dir/data/serve.json")

    # A small HTTP server in Perl (Debian's minbase has perl-base), answering 200 on every path.
    local app="$dir/app"
    mkdir -p "$app"
    cat >"$app/server.pl" <<'PERL'
use IO::Socket::INET;
$SIG{TERM} = sub { exit 0 };
my $server = IO::Socket::INET->new(LocalPort => $ENV{PORT} || 8080, Listen => 64, ReuseAddr => 1) or die "listen: $!";
while (my $client = $server->accept) {
    while (my $line = <$client>) { last if $line =~ /^\r?\n$/ }
    my $body = "bench $ENV{RAILWAY_REPLICA_ID}\n";
    print $client "HTTP/1.1 200 OK\r\nContent-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
    close $client;
}
PERL
    cat >"$app/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm-slim
WORKDIR /srv
COPY server.pl .
CMD ["perl", "/srv/server.pl"]
DOCKERFILE
    echo '{"deploy": {"healthcheckPath": "/health", "numReplicas": 2}}' >"$app/railway.json"
    cd "$app"
    "$yard" init --name bench >/dev/null
    local host="app-bench.localhost" start up redeploy scale
    start=$(now_ms)
    "$yard" up >"$dir/up-1.log" 2>&1 || { cat "$dir/up-1.log" >&2; exit 1; }
    wait_live "$port" "$host"
    up=$(($(now_ms) - start))
    start=$(now_ms)
    "$yard" redeploy >"$dir/up-2.log" 2>&1 || { cat "$dir/up-2.log" >&2; exit 1; }
    redeploy=$(($(now_ms) - start))
    echo '{"deploy": {"healthcheckPath": "/health", "numReplicas": 8}}' >"$app/railway.json"
    start=$(now_ms)
    "$yard" up >"$dir/up-3.log" 2>&1 || { cat "$dir/up-3.log" >&2; exit 1; }
    scale=$(($(now_ms) - start))
    grep -q "(8 replicas)" "$dir/up-3.log" || { echo "expected 8 replicas:" >&2; cat "$dir/up-3.log" >&2; exit 1; }
    cd "$repo"
    printf '%-8s yard up to live (build included): %6d ms; redeploy (2 replicas): %6d ms; scale-out 2→8: %6d ms\n' \
        "$runtime" "$up" "$redeploy" "$scale"
    stop_server
}

run sandbox 197
bash scripts/test-dockerd.sh start "$swarm" >/dev/null
run swarm 196 --docker-socket "$swarm/docker.sock"
