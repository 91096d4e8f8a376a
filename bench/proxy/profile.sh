#!/usr/bin/env bash
# Where the router's CPU goes (issue 17 item 1), on a machine without hardware counters:
# heap allocations per proxied request (bench/proxy/malloc-count.c preloaded into ProxyBench,
# totals read before and after a fixed number of requests) and a sampled profile
# (`perf record -e cpu-clock`, self time per function, Swift names demangled).
#
#   bash bench/proxy/profile.sh [-n REQUESTS] [-c CONNECTIONS] [-w WARMUP] [-p PROTOCOL] [-k]
#
# PROTOCOL is h1 (default: h2load --h1 over plain HTTP keep-alive, like instructions.sh) or
# h2 (h2load over the HTTPS listener, 10 streams per connection). The router runs with one
# event loop on PROXY_CORE (default 0); the upstream (nginx, 13-byte body) and h2load on
# CLIENT_CORE (default 1). -k keeps the perf data. Needs gcc, perf (linux-perf), h2load
# (nghttp2-client), nginx and openssl (bash bench/proxy/setup.sh installs them); builds the
# ProxyBench product (release).
set -euo pipefail

REQUESTS=${REQUESTS:-100000}
CONNECTIONS=${CONNECTIONS:-16}
WARMUP=${WARMUP:-5000}
PROTOCOL=${PROTOCOL:-h1}
PROXY_CORE=${PROXY_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
KEEP=0
HOST_NAME=bench.local
while getopts "n:c:w:p:kh" option; do
    case $option in
        n) REQUESTS=$OPTARG ;;
        c) CONNECTIONS=$OPTARG ;;
        w) WARMUP=$OPTARG ;;
        p) PROTOCOL=$OPTARG ;;
        k) KEEP=1 ;;
        h) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "profile.sh: see bash $0 -h" >&2; exit 2 ;;
    esac
done
case $PROTOCOL in h1 | h2) ;; *) echo "profile.sh: -p takes h1 or h2, not '$PROTOCOL'" >&2; exit 2 ;; esac
for number in "$REQUESTS" "$CONNECTIONS" "$WARMUP"; do
    [[ $number =~ ^[1-9][0-9]*$ ]] || { echo "profile.sh: -n, -c and -w take positive numbers, not '$number'" >&2; exit 2; }
done
for tool in gcc perf h2load /usr/sbin/nginx openssl taskset; do
    command -v "$tool" >/dev/null || {
        echo "profile.sh: $tool is missing; as root, run: bash $(dirname "$0")/setup.sh" >&2
        exit 1
    }
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
export PATH=/opt/swift/usr/bin:$PATH
if [[ -z ${PROXYBENCH:-} ]]; then
    echo "building ProxyBench (release)"
    (nice -n 19 "$repo/scripts/release-build.sh" --product ProxyBench 2>&1 | tail -n 1)
    PROXYBENCH="$("$repo/scripts/release-build.sh" --show-bin-path)/ProxyBench"
fi

work=$(mktemp -d /tmp/proxyprofile.XXXXXX)
pids=()
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    ((KEEP)) && echo "perf data kept in $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

gcc -O2 -shared -fPIC -o "$work/malloc-count.so" "$repo/bench/proxy/malloc-count.c"
bench_certificate "$work" "$HOST_NAME"
upstream_port=$(free_port)
upstream_config "$work/upstream" "$upstream_port"
taskset -c "$CLIENT_CORE" /usr/sbin/nginx -p "$work/upstream" -c "$work/upstream/nginx.conf" >"$work/upstream.log" 2>&1 &
pids+=($!)

LD_PRELOAD="$work/malloc-count.so" taskset -c "$PROXY_CORE" "$PROXYBENCH" "127.0.0.1:$upstream_port" --host "$HOST_NAME" \
    --https-port 0 --cert "$work/bench.pem" --key "$work/bench.key" >"$work/router.log" 2>"$work/router.err" &
router_pid=$!
pids+=($router_pid)
for ((tries = 0; tries < 600; tries++)); do
    grep -q '^https-port ' "$work/router.log" && break
    kill -0 "$router_pid" 2>/dev/null || { echo "profile.sh: ProxyBench exited:" >&2; cat "$work/router.err" >&2; exit 1; }
    sleep 0.1
done
port=$(sed -n 's/^port //p' "$work/router.log")
https_port=$(sed -n 's/^https-port //p' "$work/router.log")

load() {  # requests
    local url="http://127.0.0.1:$port/" options=(--h1 -H ":authority: $HOST_NAME")
    if [[ $PROTOCOL == h2 ]]; then
        url="https://$HOST_NAME:$https_port/"
        options=(-m 10 --connect-to="127.0.0.1:$https_port")
    fi
    taskset -c "$CLIENT_CORE" h2load "${options[@]}" -n "$1" -c "$CONNECTIONS" -t 1 "$url" >"$work/h2load.txt" 2>&1
    grep -q "status codes: $1 2xx" "$work/h2load.txt" || {
        echo "profile.sh: not every request got a 2xx:" >&2
        cat "$work/h2load.txt" >&2
        exit 1
    }
}

counts() {  # prints "allocations frees" after asking the router for its totals
    local before lines
    before=$(grep -c '^malloc-count' "$work/router.err" || true)
    kill -USR1 "$router_pid"
    for ((tries = 0; tries < 100; tries++)); do
        lines=$(grep -c '^malloc-count' "$work/router.err" || true)
        ((lines > before)) && break
        sleep 0.05
    done
    grep '^malloc-count' "$work/router.err" | tail -n 1 | awk '{ print $3, $5, $7 }'
}

load "$WARMUP"
read -r allocations_before frees_before bytes_before < <(counts)
load "$REQUESTS"
read -r allocations_after frees_after bytes_after < <(counts)
echo "$PROTOCOL: $REQUESTS requests after $WARMUP warmup, $CONNECTIONS connections"
awk -v a=$((allocations_after - allocations_before)) -v f=$((frees_after - frees_before)) \
    -v b=$((bytes_after - bytes_before)) -v n="$REQUESTS" \
    'BEGIN { printf "heap allocations per request: %.1f (frees %.1f, %.0f bytes)\n", a / n, f / n, b / n }'

# A sampled profile under the same load (cpu-clock: the VM has no hardware counters).
perf record -e cpu-clock -F 999 -g -p "$router_pid" -o "$work/perf.data" >/dev/null 2>&1 &
perf_pid=$!
sleep 0.5
load "$REQUESTS"
kill -INT "$perf_pid"
wait "$perf_pid" 2>/dev/null || true
demangle=cat
command -v swift-demangle >/dev/null && demangle="swift-demangle --simplified"
echo "top functions by self time (share of the router's samples):"
perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio --percent-limit 0.8 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | $demangle | cut -c1-160 | head -n 40
