#!/usr/bin/env bash
# Proxy benchmark (issue 5): the same upstream with nothing in front, behind Switchyard's
# router, behind nginx and behind HAProxy, on this machine, in one run.
#
#   bash bench/proxy/run.sh [-d DURATION] [-c CONNECTIONS] [-r ROUNDS] [-w WARMUP] [-l wrk|hey]
#
# Each proxy is pinned to one core (PROXY_CORE, default 0) with one worker, thread or event
# loop; the upstream (its own nginx answering a 13-byte body) and the load generator share
# CLIENT_CORE (default 1). Every round measures each target once after a warmup; the table
# shows the median over rounds and the ratios to nginx. Installs the load generator, nginx
# and haproxy from Debian if missing (with bench/proxy/setup.sh; needs root then) and builds
# the ProxyBench product.
# Before each measurement it waits (up to QUIET_WAIT seconds, default 300) for both cores to
# be idle, and marks a measurement (noisy) when other work ran around it.
# Environment: DURATION, CONNECTIONS, ROUNDS, WARMUP, LOADGEN, PROXY_CORE, CLIENT_CORE,
# QUIET_WAIT, PROXYBENCH (a ProxyBench binary to measure instead of building one), and DEFAULT_POOL=1 to add a row for the router with an idle pool of 16 (its old default).
# TWO_LOOPS=1 adds the router with 2 event loops (one SO_REUSEPORT listener each) and nginx with
# 2 workers, both allowed on both cores (which they then share with the upstream and the load).
# NIO=1 adds the router with plain HTTP/1.1 on NIO's channels (ProxyBench --nio-http1), as it
# was before it moved to its own event loops (issue 17).
# METRICS=1 adds the router with `yard serve`'s access log and request metrics behind it
# (ProxyBench --metrics), measured in the same rounds as the router without (issue 20 item 5).
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3s}
LOADGEN=${LOADGEN:-wrk}
PROXY_CORE=${PROXY_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
DEFAULT_POOL=${DEFAULT_POOL:-0}
TWO_LOOPS=${TWO_LOOPS:-0}
METRICS=${METRICS:-0}
NIO=${NIO:-0}
HOST_HEADER=bench.local
# Body of the upstream's answer: 13 bytes.
BODY='Hello, world\n'

while getopts "d:c:r:w:l:h" option; do
    case $option in
        d) DURATION=$OPTARG ;;
        c) CONNECTIONS=$OPTARG ;;
        r) ROUNDS=$OPTARG ;;
        w) WARMUP=$OPTARG ;;
        l) LOADGEN=$OPTARG ;;
        h) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "run.sh: see bash $0 -h" >&2; exit 2 ;;
    esac
done
case $LOADGEN in wrk | hey) ;; *) echo "run.sh: -l takes wrk or hey, not '$LOADGEN'" >&2; exit 2 ;; esac
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -r takes a positive number of rounds" >&2; exit 2; }
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -c takes a positive number of connections" >&2; exit 2; }
for duration in "$DURATION" "$WARMUP"; do
    [[ $duration =~ ^[1-9][0-9]*s$ ]] || { echo "run.sh: durations are whole seconds like 10s, not '$duration'" >&2; exit 2; }
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
# process_ticks (CPU ticks of a process and its children); free_port is redefined below.
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

# --- Packages -----------------------------------------------------------------------------

# Installs what is missing of these from Debian (as root; otherwise fails with the command).
bash "$(dirname "$0")/setup.sh" "$LOADGEN" nginx haproxy util-linux iproute2 procps

# --- Build --------------------------------------------------------------------------------

export PATH=/opt/swift/usr/bin:$PATH
# PROXYBENCH=path measures that binary instead of building one (as in instructions.sh).
if [[ -n ${PROXYBENCH:-} ]]; then
    proxybench=$PROXYBENCH
else
    echo "building ProxyBench (release)"
    ("$repo/scripts/release-build.sh" --product ProxyBench 2>&1 | tail -n 1)
    proxybench="$("$repo/scripts/release-build.sh" --show-bin-path)/ProxyBench"
fi
[[ -x $proxybench ]] || { echo "run.sh: $proxybench was not built" >&2; exit 1; }

# --- Processes: every one started here is stopped on exit ----------------------------------

work=$(mktemp -d /tmp/proxybench.XXXXXX)
pids=()
load_pid=

stop_pid() {
    local pid=$1 children tries
    children=$(pgrep -P "$pid" || true)  # nginx's workers, should the master have to be killed
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((tries = 0; tries < 50; tries++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        for child in $children; do kill -KILL "$child" 2>/dev/null || true; done
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    set +e
    trap - EXIT INT TERM
    [[ -n $load_pid ]] && stop_pid "$load_pid"
    for pid in "${pids[@]}"; do stop_pid "$pid"; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts "$@" pinned to core $2 with output in $work/$1.log and records its pid.
start() {
    local name=$1 core=$2
    shift 2
    taskset -c "$core" "$@" >"$work/$name.log" 2>&1 &
    pids+=($!)
}

# A port below the ephemeral range (an outgoing connection could hold one above) that no
# socket uses. The routers pick their own (port 0) and say which.
used_ports=" "
read -r ephemeral_low _ </proc/sys/net/ipv4/ip_local_port_range
free_port() {
    local port
    while :; do
        port=$((10000 + RANDOM % (ephemeral_low - 10000)))
        [[ $used_ports == *" $port "* ]] && continue
        [[ -n $(ss -Htan "( sport = :$port )") ]] && continue
        used_ports+="$port "
        echo "$port"
        return
    done
}

# Waits (bounded) for ProxyBench's "port N" line and prints N.
router_port() {
    local name=$1 tries line
    for ((tries = 0; tries < 200; tries++)); do
        line=$(grep -m1 '^port ' "$work/$name.log" || true)
        [[ -n $line ]] && { echo "${line#port }"; return 0; }
        sleep 0.05
    done
    echo "run.sh: $name did not say which port it listens on; its log:" >&2
    cat "$work/$name.log" >&2
    exit 1
}

# Waits (bounded) until something accepts connections on the port.
wait_for_port() {
    local name=$1 port=$2 tries
    for ((tries = 0; tries < 200; tries++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "run.sh: $name did not listen on 127.0.0.1:$port; its log:" >&2
    cat "$work/$name.log" >&2
    exit 1
}

upstream_port=$(free_port)
nginx_port=$(free_port)
haproxy_port=$(free_port)

nginx_common="worker_processes 1;
daemon off;
master_process on;
user root;
pid PIDFILE;
error_log ERRORLOG warn;
events { worker_connections 4096; }"

mkdir -p "$work/upstream" "$work/nginx"
{
    echo "${nginx_common//PIDFILE/$work/upstream/nginx.pid}" | sed "s#ERRORLOG#$work/upstream/error.log#"
    cat <<EOF
http {
    access_log off;
    client_body_temp_path $work/upstream/body;
    proxy_temp_path $work/upstream/proxy;
    fastcgi_temp_path $work/upstream/fastcgi;
    uwsgi_temp_path $work/upstream/uwsgi;
    scgi_temp_path $work/upstream/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$upstream_port backlog=4096;
        default_type text/plain;
        location / { return 200 "$BODY"; }
    }
}
EOF
} >"$work/upstream/nginx.conf"

{
    echo "${nginx_common//PIDFILE/$work/nginx/nginx.pid}" | sed "s#ERRORLOG#$work/nginx/error.log#"
    cat <<EOF
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    # Switchyard and HAProxy never close a client or upstream connection after N requests.
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    upstream app {
        server 127.0.0.1:$upstream_port;
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$nginx_port backlog=4096;
        $nginx_proxy_location
    }
}
EOF
} >"$work/nginx/nginx.conf"

# shellcheck source=haproxy-config.sh
source "$(dirname "$0")/haproxy-config.sh"
haproxy_config "$haproxy_port" "$upstream_port" >"$work/haproxy.cfg"

start upstream "$CLIENT_CORE" /usr/sbin/nginx -p "$work/upstream" -e "$work/upstream/error.log" -c "$work/upstream/nginx.conf"
upstream_pid=${pids[-1]}
start switchyard "$PROXY_CORE" "$proxybench" "127.0.0.1:$upstream_port" --host "$HOST_HEADER"
switchyard_pid=${pids[-1]}
switchyard_port=$(router_port switchyard)
start nginx "$PROXY_CORE" /usr/sbin/nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf"
nginx_pid=${pids[-1]}
start haproxy "$PROXY_CORE" /usr/sbin/haproxy -db -f "$work/haproxy.cfg"
haproxy_pid=${pids[-1]}
targets=(direct switchyard nginx haproxy)
declare -A port_of=([direct]=$upstream_port [switchyard]=$switchyard_port [nginx]=$nginx_port [haproxy]=$haproxy_port)
declare -A pid_of=([direct]=$upstream_pid [switchyard]=$switchyard_pid [nginx]=$nginx_pid [haproxy]=$haproxy_pid)
if [[ $DEFAULT_POOL == 1 ]]; then
    start switchyard-pool16 "$PROXY_CORE" "$proxybench" "127.0.0.1:$upstream_port" --host "$HOST_HEADER" \
        --max-idle 16
    targets+=(switchyard-pool16)
    port_of[switchyard-pool16]=$(router_port switchyard-pool16)
    pid_of[switchyard-pool16]=${pids[-1]}
fi
if [[ $TWO_LOOPS == 1 ]]; then
    both_cores="$PROXY_CORE,$CLIENT_CORE"
    start switchyard-2loops "$both_cores" "$proxybench" "127.0.0.1:$upstream_port" --host "$HOST_HEADER" --loops 2
    targets+=(switchyard-2loops)
    port_of[switchyard-2loops]=$(router_port switchyard-2loops)
    pid_of[switchyard-2loops]=${pids[-1]}
    nginx2_port=$(free_port)
    mkdir -p "$work/nginx2"
    sed -e "s#$work/nginx/#$work/nginx2/#g" -e "s#^worker_processes 1;#worker_processes 2;#" \
        -e "s#listen 127.0.0.1:$nginx_port #listen 127.0.0.1:$nginx2_port #" "$work/nginx/nginx.conf" >"$work/nginx2/nginx.conf"
    start nginx-2workers "$both_cores" /usr/sbin/nginx -p "$work/nginx2" -e "$work/nginx2/error.log" -c "$work/nginx2/nginx.conf"
    targets+=(nginx-2workers)
    port_of[nginx-2workers]=$nginx2_port
    pid_of[nginx-2workers]=${pids[-1]}
fi
if [[ $NIO == 1 ]]; then
    start switchyard-nio "$PROXY_CORE" "$proxybench" "127.0.0.1:$upstream_port" --host "$HOST_HEADER" --nio-http1
    targets+=(switchyard-nio)
    port_of[switchyard-nio]=$(router_port switchyard-nio)
    pid_of[switchyard-nio]=${pids[-1]}
fi
if [[ $METRICS == 1 ]]; then
    start switchyard-metrics "$PROXY_CORE" "$proxybench" "127.0.0.1:$upstream_port" --host "$HOST_HEADER" --metrics
    targets+=(switchyard-metrics)
    port_of[switchyard-metrics]=$(router_port switchyard-metrics)
    pid_of[switchyard-metrics]=${pids[-1]}
fi
for target in "${targets[@]}"; do
    name=$target; [[ $target == direct ]] && name=upstream
    wait_for_port "$name" "${port_of[$target]}"
done

# Every target answers the upstream's body before anything is timed.
for target in "${targets[@]}"; do
    answer=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"
        printf "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$1" >&3
        cat <&3' "${port_of[$target]}" "$HOST_HEADER" || true)
    if [[ $answer != "HTTP/1.1 200"* || $answer != *"Hello, world" ]]; then
        echo "run.sh: $target did not answer 200 with the upstream's body:" >&2
        echo "$answer" >&2
        exit 1
    fi
done

# --- Measuring ----------------------------------------------------------------------------

clock_ticks=$(getconf CLK_TCK)


# "busy total" ticks of a core from /proc/stat.
core_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu { idle = $5 + $6; total = 0; for (i = 2; i <= 9; i++) total += $i; print total - idle, total }' /proc/stat
}

# Runs the load generator against a port for a duration; its report goes to stdout.
load() {
    local port=$1 duration=$2
    if [[ $LOADGEN == wrk ]]; then
        taskset -c "$CLIENT_CORE" wrk -t1 -c"$CONNECTIONS" -d"$duration" --latency \
            -H "Host: $HOST_HEADER" "http://127.0.0.1:$port/" &
    else
        taskset -c "$CLIENT_CORE" hey -z "$duration" -c "$CONNECTIONS" -host "$HOST_HEADER" \
            "http://127.0.0.1:$port/" &
    fi
    load_pid=$!
    wait "$load_pid"
    load_pid=
}

# Prints "rps p50_ms p99_ms errors" from a load generator's report.
parse_report() {
    if [[ $LOADGEN == wrk ]]; then
        awk '
            function ms(v) {
                if (v ~ /us$/) return v / 1000
                if (v ~ /ms$/) return v + 0
                if (v ~ /s$/) return v * 1000
                return v
            }
            /^Requests\/sec:/ { rps = $2 }
            /^ +50% / { p50 = ms($2) }
            /^ +99% / { p99 = ms($2) }
            /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
            /Non-2xx or 3xx responses:/ { errors += $NF }
            END { printf "%s %s %s %d\n", rps, p50, p99, errors }' "$1"
    else
        awk '
            /Requests\/sec:/ { rps = $2 }
            /^ +50% in/ { p50 = $3 * 1000 }
            /^ +99% in/ { p99 = $3 * 1000 }
            /responses$/ && $1 != "[200]" { errors += $2 }
            /^Error distribution:/ { inerrors = 1; next }
            inerrors && /^ +\[[0-9]+\]/ { errors += substr($1, 2, length($1) - 2) }
            END { printf "%s %s %s %d\n", rps, p50, p99, errors }' "$1"
    fi
}

# Busy percentage of both cores over a second, as "core0 core1".
cores_busy() {
    local b0 t0 b1 t1 c0 u0 c1 u1
    read -r b0 t0 < <(core_ticks "$PROXY_CORE")
    read -r b1 t1 < <(core_ticks "$CLIENT_CORE")
    sleep 1
    read -r c0 u0 < <(core_ticks "$PROXY_CORE")
    read -r c1 u1 < <(core_ticks "$CLIENT_CORE")
    awk -v b0=$((c0 - b0)) -v t0=$((u0 - t0)) -v b1=$((c1 - b1)) -v t1=$((u1 - t1)) \
        'BEGIN { printf "%.0f %.0f\n", t0 ? 100 * b0 / t0 : 0, t1 ? 100 * b1 / t1 : 0 }'
}

# Anything else running on these cores (a build, say) turns the figures into noise. Between
# measurements nothing of ours runs, so wait (up to QUIET_WAIT seconds) for both cores to be
# idle; a measurement that could not wait, or after which the cores are still busy, is marked noisy.
QUIET_WAIT=${QUIET_WAIT:-300}
wait_for_quiet() {
    local waited=0 busy0 busy1 said=0
    while :; do
        read -r busy0 busy1 < <(cores_busy)
        ((busy0 <= 10 && busy1 <= 10)) && return 0
        if ((waited >= QUIET_WAIT)); then
            echo "run.sh: WARNING: cores still ${busy0}% and ${busy1}% busy with something else after ${QUIET_WAIT}s; measuring anyway (marked noisy)" >&2
            return 1
        fi
        ((said)) || echo "  waiting for other work on the cores to stop (${busy0}% and ${busy1}% busy)" >&2
        said=1
        waited=$((waited + 1))
    done
}

seconds=${DURATION%s}
cat <<EOF

$LOADGEN, $CONNECTIONS connections, $DURATION per measurement after a $WARMUP warmup, $ROUNDS round(s), Host: $HOST_HEADER
proxies pinned to core $PROXY_CORE with 1 worker / 1 thread / 1 event loop;
upstream (nginx, 1 worker, 13-byte body) and $LOADGEN share core $CLIENT_CORE (a 2-core machine: a limitation)
EOF

: >"$work/results"
for ((round = 1; round <= ROUNDS; round++)); do
    # Rotate the order each round so no target always runs first or last.
    first=$(((round - 1) % ${#targets[@]}))
    ordered=("${targets[@]:first}" "${targets[@]:0:first}")
    for target in "${ordered[@]}"; do
        port=${port_of[$target]}
        noisy=0
        wait_for_quiet || noisy=1
        load "$port" "$WARMUP" >/dev/null 2>&1
        ticks_before=$(process_ticks "${pid_of[$target]}")
        read -r core0_busy_before core0_total_before < <(core_ticks "$PROXY_CORE")
        read -r core1_busy_before core1_total_before < <(core_ticks "$CLIENT_CORE")
        report="$work/$target.round$round.txt"
        load "$port" "$DURATION" >"$report" 2>&1
        read -r core0_busy_after core0_total_after < <(core_ticks "$PROXY_CORE")
        read -r core1_busy_after core1_total_after < <(core_ticks "$CLIENT_CORE")
        ticks_after=$(process_ticks "${pid_of[$target]}")
        # Other work still running right after is likely to have started during the measurement.
        read -r busy0 busy1 < <(cores_busy)
        ((busy0 <= 10 && busy1 <= 10)) || noisy=1
        read -r rps p50 p99 errors < <(parse_report "$report")
        if [[ -z $rps || -z $p99 ]]; then
            echo "run.sh: could not read the $LOADGEN report for $target:" >&2
            cat "$report" >&2
            exit 1
        fi
        process_cpu=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$clock_ticks" -v s="$seconds" \
            'BEGIN { printf "%.0f", 100 * t / hz / s }')
        # The proxy's CPU time per request: unlike req/s, it does not depend on whether the
        # proxy or the other core was the bottleneck.
        cpu_per_request=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$clock_ticks" -v r="$rps" -v s="$seconds" \
            'BEGIN { printf "%.1f", r ? 1e6 * t / hz / (r * s) : 0 }')
        core0=$(awk -v b=$((core0_busy_after - core0_busy_before)) -v t=$((core0_total_after - core0_total_before)) \
            'BEGIN { printf "%.0f", t ? 100 * b / t : 0 }')
        core1=$(awk -v b=$((core1_busy_after - core1_busy_before)) -v t=$((core1_total_after - core1_total_before)) \
            'BEGIN { printf "%.0f", t ? 100 * b / t : 0 }')
        printf '  round %d  %-18s %10.0f req/s  p50 %6.3f ms  p99 %6.3f ms  errors %d%s\n' \
            "$round" "$target" "$rps" "$p50" "$p99" "$errors" "$( ((noisy)) && echo '  (noisy)')"
        echo "$target $rps $p50 $p99 $errors $process_cpu $core0 $core1 $cpu_per_request $noisy" >>"$work/results"
    done
done

# --- Table --------------------------------------------------------------------------------

# Median of one column (2 rps, 3 p50, 4 p99, 6 cpu, 7 core0, 8 core1, 9 µs/request) over a target's rounds.
median() {
    local values count
    values=$(awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$work/results" | sort -g)
    count=$(wc -l <<<"$values")
    sed -n "$(((count + 1) / 2))p" <<<"$values"
}
errors_of() { awk -v t="$1" '$1 == t { e += $5 } END { print e + 0 }' "$work/results"; }

nginx_rps=$(median nginx 2)
nginx_p50=$(median nginx 3)
nginx_p99=$(median nginx 4)
echo
echo "median of $ROUNDS round(s); ratios are to nginx"
echo "proxy% and us/req: the proxy process's CPU time as a share of its core and per request (user + system)"
echo "core%: how busy each core was during the measurement, whoever used it"
printf '%-18s %10s %9s %9s %9s %9s %9s %7s %7s %7s %7s %6s\n' \
    target "req/s" "p50 ms" "p99 ms" "rps/nginx" "p50/nginx" "p99/nginx" "proxy%" "us/req" "core$PROXY_CORE%" "core$CLIENT_CORE%" errors
for target in "${targets[@]}"; do
    rps=$(median "$target" 2) p50=$(median "$target" 3) p99=$(median "$target" 4)
    cpu=$(median "$target" 6) per_request=$(median "$target" 9)
    [[ $target == direct ]] && cpu=- per_request=-
    printf '%-18s %10.0f %9.3f %9.3f %9.2f %9.2f %9.2f %7s %7s %7s %7s %6s\n' "$target" "$rps" "$p50" "$p99" \
        "$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN { print a / b }')" \
        "$(awk -v a="$p50" -v b="$nginx_p50" 'BEGIN { print a / b }')" \
        "$(awk -v a="$p99" -v b="$nginx_p99" 'BEGIN { print a / b }')" \
        "$cpu" "$per_request" "$(median "$target" 7)" "$(median "$target" 8)" "$(errors_of "$target")"
done
noisy_count=$(awk '$10 == 1' "$work/results" | wc -l)
if ((noisy_count)); then
    echo "WARNING: something else kept the cores busy around $noisy_count measurement(s), marked (noisy) above; compare the rounds"
fi

switchyard_rps=$(median switchyard 2)
switchyard_p99=$(median switchyard 4)
if [[ $METRICS == 1 ]]; then
    printf 'metrics on / off: req/s %.3f, p99 %.3f, us/req %.3f (goal: req/s >= 0.95)\n' \
        "$(awk -v a="$(median switchyard-metrics 2)" -v b="$switchyard_rps" 'BEGIN { print a / b }')" \
        "$(awk -v a="$(median switchyard-metrics 4)" -v b="$switchyard_p99" 'BEGIN { print a / b }')" \
        "$(awk -v a="$(median switchyard-metrics 9)" -v b="$(median switchyard 9)" 'BEGIN { print b ? a / b : 0 }')"
fi
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo "NOT met"; fi; }
echo
printf 'goal: switchyard req/s >= nginx req/s: %s (%.2fx); switchyard p99 <= 1.25x nginx p99: %s (%.2fx)\n' \
    "$(verdict "$switchyard_rps >= $nginx_rps")" "$(awk -v a="$switchyard_rps" -v b="$nginx_rps" 'BEGIN { print a / b }')" \
    "$(verdict "$switchyard_p99 <= 1.25 * $nginx_p99")" "$(awk -v a="$switchyard_p99" -v b="$nginx_p99" 'BEGIN { print a / b }')"
