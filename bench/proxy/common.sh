# Shared by bench/proxy/h2.sh and profile.sh (sourced).

# A port below the ephemeral range (an outgoing connection could hold one above) that no
# socket uses.
read -r ephemeral_low _ </proc/sys/net/ipv4/ip_local_port_range
free_port() {
    local port
    while :; do
        port=$((10000 + RANDOM % (ephemeral_low - 10000)))
        [[ -z $(ss -Htan "( sport = :$port )") ]] && { echo "$port"; return; }
    done
}

# Writes DIR/nginx.conf: one nginx worker in the foreground, files under DIR, keep-alive
# without a request limit, and the server block lines given after DIR.
nginx_config() {
    local dir=$1
    shift
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
user root;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
$(printf '    %s\n' "$@")
}
CONF
}

# The upstream every proxy is measured in front of: nginx answering 200 with a 13-byte body.
upstream_config() {  # DIR PORT
    nginx_config "$1" "server { listen 127.0.0.1:$2 backlog=4096; default_type text/plain;" \
        '    location / { return 200 "Hello, world\n"; } }'
}

# CPU time in clock ticks of a process and its children.
process_ticks() {
    local total=0 pid ticks
    for pid in "$1" $(pgrep -P "$1" || true); do
        ticks=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }') || ticks=0
        total=$((total + ${ticks:-0}))
    done
    echo "$total"
}

# A self-signed P-256 certificate for NAME: DIR/bench.pem and DIR/bench.key.
bench_certificate() {  # DIR NAME
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
        -addext "subjectAltName=DNS:$2" -keyout "$1/bench.key" -out "$1/bench.pem" 2>/dev/null
}

# Processes started for a benchmark, and their scratch folder. A script sets `work` (its
# mktemp folder) and `pids=()`, then `trap stop_all EXIT` and `trap 'exit 130' INT TERM`.
stop_all() {
    set +e
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$work"
}

start_pinned() {  # NAME CORE COMMAND...: COMMAND on CORE in the background, its output in $work/NAME.log
    local name=$1 core=$2
    shift 2
    taskset -c "$core" "$@" >"$work/$name.log" 2>&1 &
    pids+=($!)
}

wait_for_line() {  # NAME PREFIX: the rest of the first line of $work/NAME.log that starts with PREFIX
    local name=$1 prefix=$2 tries line
    for ((tries = 0; tries < 400; tries++)); do
        line=$(grep -m1 "^$prefix " "$work/$name.log" || true)
        [[ -n $line ]] && { echo "${line#"$prefix" }"; return 0; }
        sleep 0.05
    done
    echo "$(basename "$0"): $name did not print '$prefix'; its log:" >&2
    cat "$work/$name.log" >&2
    exit 1
}

# PROXYBENCH as given, or the release ProxyBench product, built now (needs $repo).
ensure_proxybench() {
    if [[ -z ${PROXYBENCH:-} ]]; then
        echo "building ProxyBench (release)"
        ("$repo/scripts/release-build.sh" --product ProxyBench 2>&1 | tail -n 1)
        PROXYBENCH="$("$repo/scripts/release-build.sh" --show-bin-path)/ProxyBench"
    fi
    [[ -x $PROXYBENCH ]] || { echo "$(basename "$0"): $PROXYBENCH was not built" >&2; exit 1; }
}

# nginx in front of `upstream app` as the router is: HTTP/1.1 keep-alive upstream, the
# five forwarding fields the router sets (ForwardedHeaders.swift), so both do the same work
# and the upstream reads the same fields behind either.
# shellcheck disable=SC2016
nginx_proxy_location='location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
        proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Real-IP $remote_addr; proxy_set_header X-Forwarded-Port $server_port;
        proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Forwarded-Host $host; }'
