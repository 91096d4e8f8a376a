#!/usr/bin/env bash
# What metrics cost the router (issue 20 item 5): Switchyard's router (ProxyBench, one event
# loop) in front of nginx answering a 13-byte body, in three modes:
#
#   off         the router alone
#   access-log  + the access log observer, its bounded buffer and the task taking its batches
#               (what `yard serve` always runs; ProxyBench --access-log)
#   metrics     + the request metrics those batches feed (RouterMetrics; ProxyBench --metrics)
#
# Two figures per mode, each as a ratio to `off` (goal: within 5 %):
#   - instructions per request from callgrind (every thread of the process, after WARMUP
#     requests, over REQUESTS requests): noise-free, so it holds on a busy machine;
#   - requests per second over ROUNDS wall-clock rounds of DURATION seconds each, the modes
#     taking turns in a rotating order, medians compared (noisy on a shared machine).
#
#   bash bench/metrics-cost.sh [-n REQUESTS] [-w WARMUP] [-c CONNECTIONS] [-r ROUNDS] [-d DURATION] [-s] [-b BINARY]
#
# -s skips callgrind (wall clock only). -b runs the ProxyBench at BINARY instead of building
# one (a copy of a release build; e.g. while another build holds the .build folder's lock). Needs h2load (nghttp2-client), nginx and, for the
# instruction counts, a valgrind that runs Swift binaries: bash bench/proxy/build-valgrind.sh,
# then PATH=/opt/valgrind-swift/bin:$PATH. Builds the ProxyBench product (release).
set -euo pipefail

REQUESTS=${REQUESTS:-20000}
WARMUP=${WARMUP:-2000}
CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CALLGRIND=1
PROXYBENCH=
HOST_HEADER=bench.local
MODES=(off access-log metrics)
while getopts "n:w:c:r:d:b:sh" option; do
    case $option in
        n) REQUESTS=$OPTARG ;;
        w) WARMUP=$OPTARG ;;
        c) CONNECTIONS=$OPTARG ;;
        r) ROUNDS=$OPTARG ;;
        d) DURATION=$OPTARG ;;
        s) CALLGRIND=0 ;;
        b) PROXYBENCH=$OPTARG ;;
        h) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "metrics-cost.sh: see bash $0 -h" >&2; exit 2 ;;
    esac
done
for number in "$REQUESTS" "$WARMUP" "$CONNECTIONS" "$ROUNDS" "$DURATION"; do
    [[ $number =~ ^[1-9][0-9]*$ ]] || { echo "metrics-cost.sh: -n, -w, -c, -r and -d take positive numbers, not '$number'" >&2; exit 2; }
done
tools=(h2load /usr/sbin/nginx)
((CALLGRIND)) && tools+=(valgrind callgrind_control)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || {
        echo "metrics-cost.sh: $tool is missing: apt-get install nghttp2-client nginx valgrind (and bench/proxy/build-valgrind.sh)" >&2
        exit 1
    }
done

repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH=/opt/swift/usr/bin:$PATH
if [[ -n $PROXYBENCH ]]; then
    [[ -x $PROXYBENCH ]] || { echo "metrics-cost.sh: -b $PROXYBENCH is not an executable" >&2; exit 2; }
    proxybench=$PROXYBENCH
else
    echo "building ProxyBench (release)"
    (nice -n 19 "$repo/scripts/release-build.sh" --product ProxyBench 2>&1 | tail -n 1)
    proxybench="$("$repo/scripts/release-build.sh" --show-bin-path)/ProxyBench"
fi

# free_port, nginx_config, upstream_config
# shellcheck source=proxy/common.sh
source "$repo/bench/proxy/common.sh"

work=$(mktemp -d /tmp/metricscost.XXXXXX)
pids=()
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_port() {
    local port=$1 tries
    for ((tries = 0; tries < 600; tries++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "metrics-cost.sh: nothing listens on 127.0.0.1:$port" >&2
    exit 1
}

# The port a ProxyBench prints once it listens (its log is FILE).
bench_port() {  # LOG PID
    local tries port
    for ((tries = 0; tries < 600; tries++)); do
        port=$(grep -m1 '^port ' "$1" 2>/dev/null | cut -d' ' -f2 || true)
        [[ -n $port ]] && { echo "$port"; return; }
        kill -0 "$2" 2>/dev/null || { echo "metrics-cost.sh: ProxyBench exited; its log:" >&2; cat "$1" >&2; exit 1; }
        sleep 0.1
    done
    echo "metrics-cost.sh: ProxyBench never printed its port" >&2
    exit 1
}

flags() {  # MODE
    case $1 in
        off) ;;
        access-log) echo --access-log ;;
        metrics) echo --metrics ;;
    esac
}

upstream_port=$(free_port)
upstream_config "$work/upstream" "$upstream_port"
/usr/sbin/nginx -p "$work/upstream" -c "$work/upstream/nginx.conf" >"$work/upstream.log" 2>&1 &
pids+=($!)
wait_for_port "$upstream_port"

load() {  # PORT REQUESTS
    h2load --h1 -n "$2" -c "$CONNECTIONS" -H ":authority: $HOST_HEADER" "http://127.0.0.1:$1/" >"$work/h2load.txt" 2>&1
    grep -q "status codes: $2 2xx" "$work/h2load.txt" || { echo "metrics-cost.sh: not every request got a 2xx:" >&2; cat "$work/h2load.txt" >&2; exit 1; }
}

declare -A instructions rps
if ((CALLGRIND)); then
    # Valgrind cannot read the DWARF 5 debug info Swift writes: profile a copy without it.
    cp "$proxybench" "$work/ProxyBench"
    strip --strip-debug "$work/ProxyBench"
    for mode in "${MODES[@]}"; do
        out="$work/callgrind.$mode"
        # shellcheck disable=SC2046
        valgrind --tool=callgrind --callgrind-out-file="$out.%p" "$work/ProxyBench" "127.0.0.1:$upstream_port" \
            --host "$HOST_HEADER" $(flags "$mode") >"$work/$mode.log" 2>&1 &
        pid=$!
        pids+=($pid)
        port=$(bench_port "$work/$mode.log" "$pid")
        wait_for_port "$port"
        load "$port" "$WARMUP"
        callgrind_control --zero "$pid" >/dev/null 2>&1
        load "$port" "$REQUESTS"
        callgrind_control --dump="measured" "$pid" >/dev/null 2>&1
        for ((tries = 0; tries < 300; tries++)); do
            dump=$(grep -l 'measured' "$out".* 2>/dev/null | head -n 1 || true)
            [[ -n $dump ]] && grep -q '^totals:' "$dump" && break
            sleep 0.1
        done
        instructions[$mode]=$(awk -v n="$REQUESTS" '/^totals:/ { printf "%.0f", $2 / n }' "$dump")
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "callgrind $mode: ${instructions[$mode]} instructions per request"
    done
fi

# Wall clock: the three run side by side (one event loop each); each round loads one at a
# time, in a rotating order, for DURATION seconds.
declare -A port_of
for mode in "${MODES[@]}"; do
    # shellcheck disable=SC2046
    "$proxybench" "127.0.0.1:$upstream_port" --host "$HOST_HEADER" $(flags "$mode") >"$work/native.$mode.log" 2>&1 &
    pids+=($!)
    port_of[$mode]=$(bench_port "$work/native.$mode.log" "$!")
    wait_for_port "${port_of[$mode]}"
    load "${port_of[$mode]}" "$WARMUP"
done
for ((round = 0; round < ROUNDS; round++)); do
    for ((index = 0; index < ${#MODES[@]}; index++)); do
        mode=${MODES[$(((index + round) % ${#MODES[@]}))]}
        h2load --h1 -D "$DURATION" -c "$CONNECTIONS" -H ":authority: $HOST_HEADER" "http://127.0.0.1:${port_of[$mode]}/" >"$work/round.txt" 2>&1
        value=$(awk '/^finished in/ { gsub(/,/, ""); for (i = 1; i <= NF; i++) if ($i == "req/s") print $(i - 1) }' "$work/round.txt")
        rps[$mode]="${rps[$mode]:-} ${value:-0}"
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "$REQUESTS requests after $WARMUP warmup (callgrind), $ROUNDS rounds of ${DURATION}s (wall clock), $CONNECTIONS connections"
printf '%-11s %14s %9s %14s %9s   %s\n' mode "instr/request" ratio "req/s (median)" ratio "rounds"
off_rps=$(echo "${rps[off]}" | median)
for mode in "${MODES[@]}"; do
    median_rps=$(echo "${rps[$mode]}" | median)
    instr=${instructions[$mode]:-}
    instr_ratio=-
    [[ -n $instr ]] && instr_ratio=$(awk -v a="$instr" -v b="${instructions[off]}" 'BEGIN { printf "%.3f", a / b }')
    printf '%-11s %14s %9s %14.0f %9.3f  %s\n' "$mode" "${instr:--}" "$instr_ratio" "$median_rps" \
        "$(awk -v a="$median_rps" -v b="$off_rps" 'BEGIN { print b ? a / b : 0 }')" "${rps[$mode]}"
done
