#!/usr/bin/env bash
# Instructions per proxied HTTP/2 request (issue 17 items 4 and 5), the h2 sibling of
# instructions.sh: a figure that does not depend on what else the machine is doing. The
# router (ProxyBench's HTTPS listener, h2 by ALPN, one event loop) and nginx (`listen ... ssl
# http2`, one worker, an HTTP/1.1 keep-alive pool of 64) each run under valgrind's callgrind
# in front of the same upstream (nginx answering a 13-byte body), configured as in h2.sh.
# h2load (TLS 1.3, CONNECTIONS connections, STREAMS streams each) sends WARMUP requests, the
# counters are zeroed, REQUESTS more go through, and the instructions the whole proxy process
# executed (every thread) are divided by REQUESTS. Each h2load run opens its connections anew,
# so the measured part includes CONNECTIONS TLS handshakes on both sides.
#
#   bash bench/proxy/instructions-h2.sh [-n REQUESTS] [-c CONNECTIONS] [-m STREAMS] [-w WARMUP] [-t TARGETS] [-k]
#   PROXYBENCH=/path/to/ProxyBench bash bench/proxy/instructions-h2.sh    # a given build
#
# TARGETS is a comma-separated subset of switchyard,nginx (default both). -k keeps the
# callgrind profiles and writes each one's top functions (`callgrind_annotate`) beside them.
# Needs valgrind, h2load (nghttp2-client), nginx and openssl: bash bench/proxy/setup.sh
# installs them. For the router Debian's valgrind is not enough: `setup.sh --valgrind` (or
# bench/proxy/build-valgrind.sh) builds one that runs Swift binaries into /opt/valgrind-swift;
# put its bin folder first in PATH. Builds the ProxyBench product (release) unless PROXYBENCH
# is set.
set -euo pipefail

REQUESTS=${REQUESTS:-20000}
CONNECTIONS=${CONNECTIONS:-16}
STREAMS=${STREAMS:-10}
WARMUP=${WARMUP:-2000}
TARGETS=${TARGETS:-switchyard,nginx}
KEEP=0
HOST_NAME=bench.local
while getopts "n:c:m:w:t:kh" option; do
    case $option in
        n) REQUESTS=$OPTARG ;;
        c) CONNECTIONS=$OPTARG ;;
        m) STREAMS=$OPTARG ;;
        w) WARMUP=$OPTARG ;;
        t) TARGETS=$OPTARG ;;
        k) KEEP=1 ;;
        h) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "instructions-h2.sh: see bash $0 -h" >&2; exit 2 ;;
    esac
done
for number in "$REQUESTS" "$CONNECTIONS" "$STREAMS" "$WARMUP"; do
    [[ $number =~ ^[1-9][0-9]*$ ]] || { echo "instructions-h2.sh: -n, -c, -m and -w take positive numbers, not '$number'" >&2; exit 2; }
done
for tool in valgrind callgrind_control callgrind_annotate h2load /usr/sbin/nginx openssl strip; do
    command -v "$tool" >/dev/null || {
        echo "instructions-h2.sh: $tool is missing; as root, run: bash $(dirname "$0")/setup.sh" >&2
        exit 1
    }
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
export PATH=/opt/swift/usr/bin:$PATH
if [[ -z ${PROXYBENCH:-} && ,$TARGETS, == *,switchyard,* ]]; then
    echo "building ProxyBench (release)"
    (nice -n 19 "$repo/scripts/release-build.sh" --product ProxyBench 2>&1 | tail -n 1)
    PROXYBENCH="$("$repo/scripts/release-build.sh" --show-bin-path)/ProxyBench"
fi

work=$(mktemp -d /tmp/proxyinstr-h2.XXXXXX)
pids=()
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    ((KEEP)) && echo "profiles kept in $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_port() {
    local port=$1 tries
    for ((tries = 0; tries < 600; tries++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "instructions-h2.sh: nothing listens on 127.0.0.1:$port; logs in $work" >&2
    KEEP=1
    exit 1
}

bench_certificate "$work" "$HOST_NAME"
upstream_port=$(free_port)
upstream_config "$work/upstream" "$upstream_port"
/usr/sbin/nginx -p "$work/upstream" -c "$work/upstream/nginx.conf" >"$work/upstream.log" 2>&1 &
pids+=($!)
wait_for_port "$upstream_port"

load() {  # port requests
    h2load -n "$2" -c "$CONNECTIONS" -m "$STREAMS" -t 1 --connect-to="127.0.0.1:$1" \
        "https://$HOST_NAME:$1/" >"$work/h2load.txt" 2>&1
    grep -q "status codes: $2 2xx" "$work/h2load.txt" && grep -q "Application protocol: h2" "$work/h2load.txt" || {
        echo "instructions-h2.sh: not every request got a 2xx over h2:" >&2
        cat "$work/h2load.txt" >&2
        exit 1
    }
}

# Starts a proxy under callgrind, measures, prints "target instructions/request".
measure() {
    local target=$1 port=$2 pid out total dump tries
    shift 2
    out="$work/callgrind.$target"
    valgrind --tool=callgrind --callgrind-out-file="$out.%p" "$@" >"$work/$target.log" 2>&1 &
    pid=$!
    pids+=($pid)
    if [[ $target == switchyard ]]; then
        for ((tries = 0; tries < 600; tries++)); do
            port=$(sed -n 's/^https-port //p' "$work/$target.log" | head -n 1)
            [[ -n $port ]] && break
            kill -0 "$pid" 2>/dev/null || { echo "instructions-h2.sh: $target exited; its log:" >&2; cat "$work/$target.log" >&2; exit 1; }
            sleep 0.1
        done
    fi
    wait_for_port "$port"
    load "$port" "$WARMUP"
    callgrind_control --zero "$pid" >/dev/null 2>&1
    load "$port" "$REQUESTS"
    callgrind_control --dump="measured" "$pid" >/dev/null 2>&1
    # The dump is written asynchronously: wait for its totals line.
    for ((tries = 0; tries < 300; tries++)); do
        dump=$(grep -l 'measured' "$out".* 2>/dev/null | head -n 1 || true)
        [[ -n $dump ]] && grep -q '^totals:' "$dump" && break
        sleep 0.1
    done
    total=$(awk '/^totals:/ { print $2 }' "$dump")
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf '%-12s %14s instructions  %8.0f per request\n' "$target" "$total" "$(awk -v t="$total" -v n="$REQUESTS" 'BEGIN { print t / n }')"
    echo "$target $total" >>"$work/results"
    if ((KEEP)); then
        callgrind_annotate --threshold=100 "$dump" 2>/dev/null | sed -n '18,80p' >"$work/top.$target.txt" || true
    fi
}

echo "h2: $REQUESTS requests after $WARMUP warmup, $CONNECTIONS connections × $STREAMS streams, TLS 1.3"
IFS=, read -r -a wanted <<<"$TARGETS"
for target in "${wanted[@]}"; do
    case $target in
        switchyard)
            [[ -x $PROXYBENCH ]] || { echo "instructions-h2.sh: $PROXYBENCH was not built" >&2; exit 1; }
            # Valgrind cannot read the DWARF 5 debug info Swift writes: profile a copy without it
            # (the symbol table, and so the function names, stay).
            cp "$PROXYBENCH" "$work/ProxyBench"
            strip --strip-debug "$work/ProxyBench"
            measure switchyard 0 "$work/ProxyBench" "127.0.0.1:$upstream_port" --host "$HOST_NAME" \
                --https-port 0 --cert "$work/bench.pem" --key "$work/bench.key" ;;
        nginx)
            port=$(free_port)
            nginx_config "$work/nginx" \
                "upstream app { server 127.0.0.1:$upstream_port; keepalive 64; }" \
                "server { listen 127.0.0.1:$port ssl http2 backlog=4096;" \
                "    ssl_certificate $work/bench.pem; ssl_certificate_key $work/bench.key; ssl_protocols TLSv1.2 TLSv1.3;" \
                "    $nginx_proxy_location }"
            measure nginx "$port" /usr/sbin/nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" ;;
        *) echo "instructions-h2.sh: unknown target '$target' (switchyard, nginx)" >&2; exit 2 ;;
    esac
done
if [[ -f $work/results ]] && grep -q '^nginx ' "$work/results" && grep -q '^switchyard ' "$work/results"; then
    awk '{ total[$1] = $2 } END { printf "switchyard ÷ nginx: %.2f\n", total["switchyard"] / total["nginx"] }' "$work/results"
fi
