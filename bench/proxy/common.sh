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
