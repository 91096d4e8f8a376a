#!/usr/bin/env bash
# Instructions per proxied request (issue 17 item 5): a figure that does not depend on what
# else the machine is doing. Each proxy (Switchyard's router, nginx, HAProxy; one worker,
# thread or event loop each, configured as in run.sh) runs under valgrind's callgrind in
# front of the same upstream (nginx answering a 13-byte body). After WARMUP requests the
# counters are zeroed, REQUESTS more go through it (h2load over HTTP/1.1 keep-alive,
# CONNECTIONS connections), and the instructions the whole proxy process executed (every
# thread) are divided by REQUESTS.
#
#   bash bench/proxy/instructions.sh [-n REQUESTS] [-c CONNECTIONS] [-w WARMUP] [-t TARGETS] [-k]
#   PROXYBENCH=/path/to/ProxyBench bash bench/proxy/instructions.sh -t switchyard   # a given build
#
# TARGETS is a comma-separated subset of switchyard,nginx,haproxy (default all three), of
# switchyard-nio (the router with plain HTTP/1.1 on NIO's channels, as before issue 17's own
# event loops, ProxyBench --nio-http1) and of
# the relays switchyard-tcp, nginx-stream and haproxy-tcp: each proxy forwarding the same
# requests as bytes, one upstream connection per client connection and nothing parsed
# (the router's TCP proxy, nginx's stream module, HAProxy's `mode tcp`). A relay makes the
# same system calls per request as its HTTP proxy (a read and a write each way), so it is
# the floor of what the proxy's I/O costs, and the difference is its HTTP work. swift-epoll
# is the same relay in Swift on its own epoll loop without NIO (ProxyBench --epoll-relay-port),
# the floor a router doing its own socket I/O would start from. -k keeps
# the callgrind profiles: their top functions are printed with `callgrind_annotate`.
# Needs valgrind, h2load (nghttp2-client), nginx and haproxy, and nginx-stream also
# libnginx-mod-stream: bash bench/proxy/setup.sh installs them. Builds the ProxyBench product
# (release). For the router, Debian's valgrind is not enough: `setup.sh --valgrind` (or
# bench/proxy/build-valgrind.sh) builds one that runs Swift binaries into
# /opt/valgrind-swift; put its bin folder first in PATH.
set -euo pipefail

REQUESTS=${REQUESTS:-20000}
CONNECTIONS=${CONNECTIONS:-16}
WARMUP=${WARMUP:-2000}
TARGETS=${TARGETS:-switchyard,nginx,haproxy}
KEEP=0
HOST_HEADER=bench.local
while getopts "n:c:w:t:kh" option; do
    case $option in
        n) REQUESTS=$OPTARG ;;
        c) CONNECTIONS=$OPTARG ;;
        w) WARMUP=$OPTARG ;;
        t) TARGETS=$OPTARG ;;
        k) KEEP=1 ;;
        h) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "instructions.sh: see bash $0 -h" >&2; exit 2 ;;
    esac
done
for number in "$REQUESTS" "$CONNECTIONS" "$WARMUP"; do
    [[ $number =~ ^[1-9][0-9]*$ ]] || { echo "instructions.sh: -n, -c and -w take positive numbers, not '$number'" >&2; exit 2; }
done
for tool in valgrind callgrind_control h2load /usr/sbin/nginx /usr/sbin/haproxy strip; do
    command -v "$tool" >/dev/null || {
        echo "instructions.sh: $tool is missing; as root, run: bash $(dirname "$0")/setup.sh" >&2
        exit 1
    }
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=haproxy-config.sh
source "$(dirname "$0")/haproxy-config.sh"
export PATH=/opt/swift/usr/bin:$PATH
# PROXYBENCH=path measures that binary instead of building one (e.g. a saved copy of a
# baseline build, to compare before and after in one run).
if [[ -n ${PROXYBENCH:-} ]]; then
    proxybench=$PROXYBENCH
else
    if [[ ,$TARGETS, == *,switchyard,* || ,$TARGETS, == *,switchyard-nio,* || ,$TARGETS, == *,switchyard-tcp,* || ,$TARGETS, == *,swift-epoll,* ]]; then
        echo "building ProxyBench (release)"
        (nice -n 19 "$repo/scripts/release-build.sh" --product ProxyBench 2>&1 | tail -n 1)
    fi
    proxybench="$("$repo/scripts/release-build.sh" --show-bin-path)/ProxyBench"
fi

work=$(mktemp -d /tmp/proxyinstr.XXXXXX)
pids=()
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    ((KEEP)) && echo "profiles kept in $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

wait_for_port() {
    local port=$1 tries
    for ((tries = 0; tries < 600; tries++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "instructions.sh: nothing listens on 127.0.0.1:$port; logs in $work" >&2
    KEEP=1
    exit 1
}

nginx_config() {  # name port body-of-server-block
    mkdir -p "$work/$1"
    cat >"$work/$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
user root;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/$1/body;
    proxy_temp_path $work/$1/proxy;
    fastcgi_temp_path $work/$1/fastcgi;
    uwsgi_temp_path $work/$1/uwsgi;
    scgi_temp_path $work/$1/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    $3
    server {
        listen 127.0.0.1:$2 backlog=4096;
        $4
    }
}
CONF
}

upstream_port=$(free_port)
nginx_config upstream "$upstream_port" "" 'default_type text/plain; location / { return 200 "Hello, world\n"; }'
/usr/sbin/nginx -p "$work/upstream" -c "$work/upstream/nginx.conf" >"$work/upstream.log" 2>&1 &
pids+=($!)
wait_for_port "$upstream_port"

load() {  # port requests
    h2load --h1 -n "$2" -c "$CONNECTIONS" -H ":authority: $HOST_HEADER" "http://127.0.0.1:$1/" >"$work/h2load.txt" 2>&1
    grep -q "status codes: $2 2xx" "$work/h2load.txt" || {
        echo "instructions.sh: not every request got a 2xx:" >&2
        cat "$work/h2load.txt" >&2
        exit 1
    }
}

# Starts a proxy under callgrind, measures, prints "target instructions/request". Port 0:
# the proxy prints the port it took (`port N`, ProxyBench).
measure() {
    local target=$1 port=$2 pid out total
    shift 2
    out="$work/callgrind.$target"
    valgrind --tool=callgrind --callgrind-out-file="$out.%p" "$@" >"$work/$target.log" 2>&1 &
    pid=$!
    pids+=($pid)
    if ((port == 0)); then
        local tries
        for ((tries = 0; tries < 600; tries++)); do
            port=$(grep -m1 '^port ' "$work/$target.log" | cut -d' ' -f2 || true)
            [[ -n $port ]] && break
            kill -0 "$pid" 2>/dev/null || { echo "instructions.sh: $target exited; its log:" >&2; cat "$work/$target.log" >&2; exit 1; }
            sleep 0.1
        done
    fi
    wait_for_port "$port"
    # A ProxyBench relay listens before it has its upstream: it says when it has (READY).
    if [[ -n ${READY:-} ]]; then
        local ready
        for ((ready = 0; ready < 600; ready++)); do
            grep -q "$READY" "$work/$target.log" && break
            sleep 0.1
        done
    fi
    load "$port" "$WARMUP"
    callgrind_control --zero "$pid" >/dev/null 2>&1
    load "$port" "$REQUESTS"
    callgrind_control --dump="measured" "$pid" >/dev/null 2>&1
    # The dump is written asynchronously: wait for its totals line.
    local dump tries
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
        callgrind_annotate --threshold=100 "$dump" 2>/dev/null | sed -n '18,70p' >"$work/top.$target.txt" || true
    fi
}

echo "$REQUESTS requests after $WARMUP warmup, $CONNECTIONS connections, Host: $HOST_HEADER"
IFS=, read -r -a wanted <<<"$TARGETS"
for target in "${wanted[@]}"; do
    case $target in
        switchyard)
                # Valgrind 3.19 cannot read the DWARF 5 debug info Swift writes: profile a copy without it
            # (the symbol table, and so the function names, stay).
            cp "$proxybench" "$work/ProxyBench"
            strip --strip-debug "$work/ProxyBench"
            measure switchyard 0 "$work/ProxyBench" "127.0.0.1:$upstream_port" --host "$HOST_HEADER" ;;
        switchyard-nio)
            cp "$proxybench" "$work/ProxyBench"
            strip --strip-debug "$work/ProxyBench"
            measure switchyard-nio 0 "$work/ProxyBench" "127.0.0.1:$upstream_port" --host "$HOST_HEADER" --nio-http1 ;;
        switchyard-tcp)
            cp "$proxybench" "$work/ProxyBench"
            strip --strip-debug "$work/ProxyBench"
            port=$(free_port)
            READY='^tcp-port ' measure switchyard-tcp "$port" "$work/ProxyBench" "127.0.0.1:$upstream_port" --host "$HOST_HEADER" --tcp-port "$port" ;;
        nginx-stream)
            [[ -e /usr/lib/nginx/modules/ngx_stream_module.so ]] || {
                echo "instructions.sh: nginx's stream module is missing; as root, run: bash $(dirname "$0")/setup.sh" >&2
                exit 1
            }
            port=$(free_port)
            mkdir -p "$work/nginx-stream"
            cat >"$work/nginx-stream/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
master_process off;
user root;
pid $work/nginx-stream/nginx.pid;
error_log $work/nginx-stream/error.log warn;
events { worker_connections 4096; }
stream { server { listen 127.0.0.1:$port backlog=4096; proxy_pass 127.0.0.1:$upstream_port; } }
CONF
            measure nginx-stream "$port" /usr/sbin/nginx -p "$work/nginx-stream" -c "$work/nginx-stream/nginx.conf" ;;
        swift-epoll)
            cp "$proxybench" "$work/ProxyBench"
            strip --strip-debug "$work/ProxyBench"
            port=$(free_port)
            READY='^epoll-relay-port ' measure swift-epoll "$port" "$work/ProxyBench" "127.0.0.1:$upstream_port" --host "$HOST_HEADER" --epoll-relay-port "$port" ;;
        haproxy-tcp)
            port=$(free_port)
            haproxy_config "$port" "$upstream_port" | sed 's/^    mode http$/    mode tcp/; /forwardfor\|http-request\|http-keep-alive\|http-reuse/d' >"$work/haproxy-tcp.cfg"
            measure haproxy-tcp "$port" /usr/sbin/haproxy -db -f "$work/haproxy-tcp.cfg" ;;
        nginx)
            port=$(free_port)
            nginx_config nginx "$port" "upstream app { server 127.0.0.1:$upstream_port; keepalive 64; keepalive_requests 100000000; keepalive_timeout 300s; }" \
                "$nginx_proxy_location"
            measure nginx "$port" /usr/sbin/nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" ;;
        haproxy)
            port=$(free_port)
            haproxy_config "$port" "$upstream_port" >"$work/haproxy.cfg"
            measure haproxy "$port" /usr/sbin/haproxy -db -f "$work/haproxy.cfg" ;;
        *) echo "instructions.sh: unknown target '$target' (switchyard, switchyard-nio, nginx, haproxy, switchyard-tcp, nginx-stream, haproxy-tcp, swift-epoll)" >&2; exit 2 ;;
    esac
done
