# Sourced by run.sh and instructions.sh: HAProxy configured as in the comparison (one thread,
# keep-alive both ways, the forwarding headers Switchyard's router sets too).
#   haproxy_config LISTEN_PORT UPSTREAM_PORT >FILE
haproxy_config() {
    cat <<CONF
global
    nbthread 1
    maxconn 8192
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    option http-keep-alive
    http-reuse always
frontend bench
    bind 127.0.0.1:$1
    option forwardfor
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-request set-header X-Real-IP %[src]
    http-request set-header X-Forwarded-Port %[dst_port]
    default_backend app
backend app
    server upstream 127.0.0.1:$2
CONF
}
