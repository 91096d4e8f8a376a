#!/usr/bin/env bash
# HTTP/2 at the edge (issue 17): h2load through Switchyard's HTTPS listener (h2 by ALPN) and
# through nginx's `listen ... ssl http2`, in front of the same HTTP/1.1 upstream, same run.
#
#   bash bench/proxy/h2.sh [-n REQUESTS] [-c CONNECTIONS] [-m STREAMS] [-r ROUNDS] [-p POOL]
#
# Each proxy is pinned to PROXY_CORE (default 0) with one event loop / one worker; the
# upstream (nginx, `return 200`, 13-byte body) and h2load share CLIENT_CORE (default 1). Both
# proxies serve the same self-signed P-256 certificate for bench.local, TLS 1.3, keep-alive
# upstream pools of POOL idle connections (default 64: nginx's `keepalive`, ProxyBench's
# `--max-idle`). With more streams in flight (CONNECTIONS × STREAMS) than POOL, both open and
# close upstream connections all the time; `yard serve` keeps as many idle as it may open
# (256). Every round runs each proxy once after a warmup; the table shows the
# median over rounds, the ratio to nginx and the proxy's CPU time per request.
# Needs h2load (nghttp2-client), nginx and openssl (bash bench/proxy/setup.sh installs them);
# builds the ProxyBench product (release).
set -euo pipefail

REQUESTS=${REQUESTS:-200000}
CONNECTIONS=${CONNECTIONS:-16}
STREAMS=${STREAMS:-10}
ROUNDS=${ROUNDS:-3}
POOL=${POOL:-64}
PROXY_CORE=${PROXY_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
HOST_NAME=bench.local
BODY='Hello, world\n'

while getopts "n:c:m:r:p:h" option; do
    case $option in
        n) REQUESTS=$OPTARG ;;
        c) CONNECTIONS=$OPTARG ;;
        m) STREAMS=$OPTARG ;;
        r) ROUNDS=$OPTARG ;;
        p) POOL=$OPTARG ;;
        h) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "h2.sh: see bash $0 -h" >&2; exit 2 ;;
    esac
done
for value in "$REQUESTS" "$CONNECTIONS" "$STREAMS" "$ROUNDS" "$POOL"; do
    [[ $value =~ ^[1-9][0-9]*$ ]] || { echo "h2.sh: -n, -c, -m, -r and -p take positive numbers, not '$value'" >&2; exit 2; }
done
for tool in h2load /usr/sbin/nginx openssl taskset; do
    command -v "$tool" >/dev/null || { echo "h2.sh: $tool is missing; as root, run: bash $(dirname "$0")/setup.sh" >&2; exit 1; }
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
export PATH=/opt/swift/usr/bin:$PATH
ensure_proxybench

work=$(mktemp -d /tmp/proxybench-h2.XXXXXX)
pids=()
trap stop_all EXIT
trap 'exit 130' INT TERM

bench_certificate "$work" "$HOST_NAME"
upstream_port=$(free_port)
nginx_port=$(free_port)
upstream_config "$work/upstream" "$upstream_port"
nginx_config "$work/nginx" \
    "upstream app { server 127.0.0.1:$upstream_port; keepalive $POOL; }" \
    "server { listen 127.0.0.1:$nginx_port ssl http2 backlog=4096;" \
    "    ssl_certificate $work/bench.pem; ssl_certificate_key $work/bench.key; ssl_protocols TLSv1.2 TLSv1.3;" \
    "    $nginx_proxy_location }"

start_pinned upstream "$CLIENT_CORE" /usr/sbin/nginx -p "$work/upstream" -e "$work/upstream/error.log" -c "$work/upstream/nginx.conf"
start_pinned switchyard "$PROXY_CORE" "$PROXYBENCH" "127.0.0.1:$upstream_port" --host "$HOST_NAME" \
    --https-port 0 --cert "$work/bench.pem" --key "$work/bench.key" --max-idle "$POOL"
switchyard_pid=${pids[-1]}
switchyard_port=$(wait_for_line switchyard https-port)
start_pinned nginx "$PROXY_CORE" /usr/sbin/nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf"
nginx_pid=${pids[-1]}
sleep 0.5
declare -A port_of=([switchyard]=$switchyard_port [nginx]=$nginx_port)
declare -A pid_of=([switchyard]=$switchyard_pid [nginx]=$nginx_pid)
targets=(switchyard nginx)

h2() {
    local port=$1 requests=$2
    taskset -c "$CLIENT_CORE" h2load -n "$requests" -c "$CONNECTIONS" -m "$STREAMS" -t 1 \
        --connect-to="127.0.0.1:$port" "https://$HOST_NAME:$port/"
}

for target in "${targets[@]}"; do
    check=$(h2 "${port_of[$target]}" 100 2>&1)
    if [[ $check != *"100 succeeded"* || $check != *"status codes: 100 2xx"* ]]; then
        echo "h2.sh: $target did not answer 100 requests over h2 with 200:" >&2
        echo "$check" >&2
        exit 1
    fi
    grep -q "Application protocol: h2" <<<"$check" || { echo "h2.sh: $target did not negotiate h2" >&2; exit 1; }
done

ticks_per_second=$(getconf CLK_TCK)
declare -A rates cpu
for ((round = 1; round <= ROUNDS; round++)); do
    for target in "${targets[@]}"; do
        h2 "${port_of[$target]}" $((REQUESTS / 10)) >/dev/null 2>&1
        before=$(process_ticks "${pid_of[$target]}")
        report=$(h2 "${port_of[$target]}" "$REQUESTS" 2>&1)
        after=$(process_ticks "${pid_of[$target]}")
        rate=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' <<<"$report")
        succeeded=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' <<<"$report")
        [[ -n $rate && $succeeded == "$REQUESTS" ]] || { echo "h2.sh: $target round $round failed:" >&2; echo "$report" >&2; exit 1; }
        us=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$REQUESTS" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
        printf 'round %d  %-10s %10.0f req/s  %6s µs/req\n' "$round" "$target" "$rate" "$us"
        rates[$target]+="$rate "
        cpu[$target]+="$us "
    done
done

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
nginx_rate=$(median "${rates[nginx]}")
echo
echo "h2load -n $REQUESTS -c $CONNECTIONS -m $STREAMS, upstream pools of $POOL, median of $ROUNDS rounds"
printf '| %-10s | %10s | %8s | %12s |\n' target "req/s" "÷ nginx" "proxy µs/req"
printf '|---|---:|---:|---:|\n'
for target in "${targets[@]}"; do
    rate=$(median "${rates[$target]}")
    printf '| %-10s | %10.0f | %8.2f | %12s |\n' "$target" "$rate" "$(awk -v a="$rate" -v b="$nginx_rate" 'BEGIN { print a / b }')" "$(median "${cpu[$target]}")"
done
