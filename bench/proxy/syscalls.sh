#!/usr/bin/env bash
# What the proxies ask of the kernel per request (issue 17): the system calls each makes
# (`strace -c -f` attached to the proxy's process) and its user and system CPU time (from
# /proc), for the router and nginx in front of the same upstream, same run. Callgrind's
# instruction counts (instructions.sh) see only user space; this found the router resolving
# every new upstream connection on another thread (a futex wake-up per connect under h2).
#
#   bash bench/proxy/syscalls.sh [-P PROTOCOL] [-n REQUESTS] [-c CONNECTIONS] [-m STREAMS] [-p POOL]
#
# PROTOCOL: h1 (default; plain HTTP/1.1 keep-alive), tls (HTTP/1.1 over TLS 1.3) or h2 (TLS
# 1.3, ALPN h2, STREAMS per connection, default 10). POOL is both proxies' idle upstream pool
# (nginx's `keepalive`, ProxyBench's `--max-idle`; default 64, as in h2.sh). Each proxy is
# pinned to PROXY_CORE (default 0) with one event loop / worker; the upstream (nginx, 13-byte
# body) and h2load share CLIENT_CORE (default 1). CPU time is taken over REQUESTS requests
# (default 100,000) without strace; the system calls over a fifth as many, under strace, and
# printed per 1,000 requests. Needs strace, h2load (nghttp2-client), nginx and openssl (bash
# bench/proxy/setup.sh installs them); builds the ProxyBench product (release) unless
# PROXYBENCH names one.
set -euo pipefail

PROTOCOL=${PROTOCOL:-h1}
REQUESTS=${REQUESTS:-100000}
CONNECTIONS=${CONNECTIONS:-16}
STREAMS=${STREAMS:-10}
POOL=${POOL:-64}
PROXY_CORE=${PROXY_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
HOST_NAME=bench.local

while getopts "P:n:c:m:p:h" option; do
    case $option in
        P) PROTOCOL=$OPTARG ;;
        n) REQUESTS=$OPTARG ;;
        c) CONNECTIONS=$OPTARG ;;
        m) STREAMS=$OPTARG ;;
        p) POOL=$OPTARG ;;
        h) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "syscalls.sh: see bash $0 -h" >&2; exit 2 ;;
    esac
done
case $PROTOCOL in h1 | tls | h2) ;; *) echo "syscalls.sh: -P takes h1, tls or h2, not '$PROTOCOL'" >&2; exit 2 ;; esac
for value in "$REQUESTS" "$CONNECTIONS" "$STREAMS" "$POOL"; do
    [[ $value =~ ^[1-9][0-9]*$ ]] || { echo "syscalls.sh: -n, -c, -m and -p take positive numbers, not '$value'" >&2; exit 2; }
done
((REQUESTS >= 5000)) || { echo "syscalls.sh: -n takes at least 5000 requests" >&2; exit 2; }
for tool in strace h2load /usr/sbin/nginx openssl taskset; do
    command -v "$tool" >/dev/null || { echo "syscalls.sh: $tool is missing; as root, run: bash $(dirname "$0")/setup.sh" >&2; exit 1; }
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
export PATH=/opt/swift/usr/bin:$PATH
ensure_proxybench

work=$(mktemp -d /tmp/proxysyscalls.XXXXXX)
pids=()
trap stop_all EXIT
trap 'exit 130' INT TERM

bench_certificate "$work" "$HOST_NAME"
upstream_port=$(free_port)
nginx_port=$(free_port)
upstream_config "$work/upstream" "$upstream_port"
listen="listen 127.0.0.1:$nginx_port backlog=4096;"
case $PROTOCOL in
    tls) listen="listen 127.0.0.1:$nginx_port ssl backlog=4096; ssl_certificate $work/bench.pem; ssl_certificate_key $work/bench.key; ssl_protocols TLSv1.3;" ;;
    h2) listen="listen 127.0.0.1:$nginx_port ssl http2 backlog=4096; ssl_certificate $work/bench.pem; ssl_certificate_key $work/bench.key; ssl_protocols TLSv1.3;" ;;
esac
nginx_config "$work/nginx" \
    "upstream app { server 127.0.0.1:$upstream_port; keepalive $POOL; }" \
    "server { $listen" \
    "    $nginx_proxy_location }"

start_pinned upstream "$CLIENT_CORE" /usr/sbin/nginx -p "$work/upstream" -e "$work/upstream/error.log" -c "$work/upstream/nginx.conf"
start_pinned switchyard "$PROXY_CORE" "$PROXYBENCH" "127.0.0.1:$upstream_port" --host "$HOST_NAME" \
    --https-port 0 --cert "$work/bench.pem" --key "$work/bench.key" --max-idle "$POOL"
switchyard_pid=${pids[-1]}
if [[ $PROTOCOL == h1 ]]; then
    switchyard_port=$(wait_for_line switchyard port)
else
    switchyard_port=$(wait_for_line switchyard https-port)
fi
start_pinned nginx "$PROXY_CORE" /usr/sbin/nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf"
nginx_pid=${pids[-1]}  # master_process off: the one process serves
sleep 0.5
declare -A port_of=([switchyard]=$switchyard_port [nginx]=$nginx_port)
declare -A pid_of=([switchyard]=$switchyard_pid [nginx]=$nginx_pid)

load() {  # TARGET REQUESTS: prints h2load's report
    local port=${port_of[$1]} options
    case $PROTOCOL in
        h1) options=(--h1 -H ":authority: $HOST_NAME" "http://127.0.0.1:$port/") ;;
        tls) options=(--h1 --connect-to="127.0.0.1:$port" "https://$HOST_NAME:$port/") ;;
        h2) options=(-m "$STREAMS" --connect-to="127.0.0.1:$port" "https://$HOST_NAME:$port/") ;;
    esac
    taskset -c "$CLIENT_CORE" h2load -n "$2" -c "$CONNECTIONS" -t 1 "${options[@]}" 2>&1
}

cpu_ticks() {  # PID: "user system" clock ticks
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12, $13 }'
}

declare -A calls
names=()
ticks_per_second=$(getconf CLK_TCK)
traced=$((REQUESTS / 5))
for target in switchyard nginx; do
    report=$(load "$target" 100)
    [[ $report == *"status codes: 100 2xx"* ]] || { echo "syscalls.sh: $target did not answer 100 requests with 200:" >&2; echo "$report" >&2; exit 1; }
    load "$target" $((REQUESTS / 10)) >/dev/null
    read -r user_before system_before < <(cpu_ticks "${pid_of[$target]}")
    report=$(load "$target" "$REQUESTS")
    read -r user_after system_after < <(cpu_ticks "${pid_of[$target]}")
    [[ $report == *"status codes: $REQUESTS 2xx"* ]] || { echo "syscalls.sh: $target failed requests:" >&2; echo "$report" >&2; exit 1; }
    rate=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' <<<"$report")
    awk -v t="$target" -v r="$rate" -v u=$((user_after - user_before)) -v s=$((system_after - system_before)) \
        -v hz="$ticks_per_second" -v n="$REQUESTS" \
        'BEGIN { printf "%-10s %8.0f req/s  user %5.1f µs/req  system %5.1f µs/req\n", t, r, u / hz * 1e6 / n, s / hz * 1e6 / n }'

    strace -f -c -p "${pid_of[$target]}" -o "$work/strace.$target" 2>/dev/null &
    strace_pid=$!
    sleep 1  # strace attaches to every thread before the load starts
    report=$(load "$target" "$traced")
    kill -INT "$strace_pid"
    wait "$strace_pid" || true
    [[ $report == *"status codes: $traced 2xx"* ]] || { echo "syscalls.sh: $target failed requests under strace:" >&2; echo "$report" >&2; exit 1; }
    # strace -c: "% time seconds usecs/call calls [errors] syscall", then a total line.
    while read -r count name; do
        calls[$target,$name]=$count
        [[ " ${names[*]} " == *" $name "* ]] || names+=("$name")
    done < <(awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { print $4, $NF }' "$work/strace.$target")
done

echo
echo "system calls per 1,000 requests ($PROTOCOL, $CONNECTIONS connections$([[ $PROTOCOL == h2 ]] && echo " × $STREAMS streams"), upstream pools of $POOL; strace over $traced requests):"
printf '| %-16s | %10s | %10s |\n' "system call" switchyard nginx
printf '|---|---:|---:|\n'
for name in "${names[@]}"; do
    printf '| %-16s | %10s | %10s |\n' "$name" \
        "$(awk -v c="${calls[switchyard,$name]:-0}" -v n="$traced" 'BEGIN { printf "%.0f", c * 1000 / n }')" \
        "$(awk -v c="${calls[nginx,$name]:-0}" -v n="$traced" 'BEGIN { printf "%.0f", c * 1000 / n }')"
done
