#!/usr/bin/env bash
# A private two-node Docker swarm for tests and development. `start DIR` runs dockerd (Debian's
# docker.io) with everything under DIR (data root, exec root, socket, pidfile), its own bridge
# at 10.201.0.1/24 and address pools in 10.201.0.0/16, no iptables rules, and makes it a swarm
# manager on the bridge address; then a worker: a network namespace with a veth into that
# bridge (10.201.0.250, no default route, or its dockerd stalls on DNS) and a second dockerd in
# it (`nsenter --net` + `unshare --uts`, not `ip netns exec`, which hides the cgroup mounts)
# with its own roots under DIR/worker, joined with the worker token over the bridge. Both
# daemons pull over plain HTTP from registries on the bridge's /24 (the one `yard serve` runs
# there). `stop DIR` stops both and removes everything they made (containers, mounts, the
# namespace, links, the folder). Prints the manager's socket path on start; the worker's is
# DIR/worker/docker.sock. With `userns` after DIR, both daemons run with `userns-remap` as
# `yard-dockremap`: a container's root is host uid 0x7F000000 (65536 ids from there, a block
# no service uid, build or image block of the sandbox uses), not the host's root; start adds
# that user and its /etc/subuid and /etc/subgid lines when missing, and stop removes what
# start added.
# `restart-worker DIR` starts the worker's dockerd again after a test killed it.
# Usage: scripts/test-dockerd.sh start DIR [userns] | stop DIR | restart-worker DIR
set -euo pipefail
action="${1:-}"
dir="${2:-}"
userns="${3:-}"
if [ -z "$action" ] || [ -z "$dir" ]; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi
case "$dir" in
    /tmp/*) ;;
    *) echo "test-dockerd: DIR must be under /tmp (got $dir)" >&2; exit 2 ;;
esac
socket="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
worker="$dir/worker"
# Docker's own links: docker0 is renamed per daemon (bridge name below), docker_gwbridge is
# fixed, overlay and veth links carry the daemon's ids.
hash=$(basename "$dir" | md5sum)
bridge="ydk${hash:0:8}"
netns="ydw${hash:0:8}"
veth="ydv${hash:0:8}"
# The swarm's addresses are on the bridge, where the worker reaches the manager. Its gossip
# port (7946) is fixed, so one such swarm runs on a machine at a time.
address="10.201.0.1"
worker_address="10.201.0.250"
remap_user="yard-dockremap"
remap_line="$remap_user:2130706432:65536"

docker_api() { curl -sS --unix-socket "$socket" "$@"; }
worker_api() { curl -sS --unix-socket "$worker/docker.sock" "$@"; }

# daemon.json of the daemon whose files are under $1.
write_config() {
    cat >"$1/daemon.json" <<EOF
{
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 20000, "Hard": 20000}},
  "default-address-pools": [{"base": "10.201.64.0/18", "size": 24}],
  "insecure-registries": ["10.201.0.0/24"]$([ "$userns" = userns ] && printf ',\n  "userns-remap": "%s"' "$remap_user")
}
EOF
}

# Runs a daemon (the arguments after the log file) detached. It keeps no descriptor of ours
# beyond its log (a caller waiting for every holder of its pipes would wait for the daemon).
run_detached() {
    local log="$1"
    shift
    (
        for fd in $(ls /proc/$BASHPID/fd); do
            [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
        done
        exec setsid "$@"
    ) >"$log" 2>&1 </dev/null &
}

# Waits until the daemon on socket $1 answers; $2 is its log.
wait_ready() {
    for _ in $(seq 1 200); do
        [ -S "$1" ] && curl -sS --unix-socket "$1" -o /dev/null http://docker/_ping 2>/dev/null && return 0
        sleep 0.05
    done
    curl -sS --unix-socket "$1" -f -o /dev/null http://docker/_ping ||
        { echo "test-dockerd: dockerd did not start; log:" >&2; tail -20 "$2" >&2; exit 1; }
}

# The worker's dockerd, in its namespace; waits until it answers.
run_worker_daemon() {
    run_detached "$worker/dockerd.log" nsenter "--net=/run/netns/$netns" unshare --uts \
        /bin/sh -c 'hostname yard-worker && exec "$@"' sh \
        dockerd --config-file "$worker/daemon.json" --data-root "$worker/data" --exec-root "$worker/exec" \
        -H "unix://$worker/docker.sock" --pidfile "$worker/dockerd.pid" \
        --iptables=false --ip-masq=false --ip-forward=false --userland-proxy=true
    wait_ready "$worker/docker.sock" "$worker/dockerd.log"
}

# After the worker's dockerd was killed (a node failure test): starts it again on its own
# data; it stops the containers it left running and rejoins the swarm by itself.
restart_worker() {
    [ -d "$worker/data" ] || { echo "test-dockerd: no worker under $dir" >&2; exit 1; }
    if [ -f "$worker/dockerd.pid" ] && kill -0 "$(cat "$worker/dockerd.pid")" 2>/dev/null; then
        echo "test-dockerd: the worker's dockerd still runs" >&2
        exit 1
    fi
    rm -f "$worker/dockerd.pid" "$worker/docker.sock"
    run_worker_daemon
}

start_worker() {
    mkdir -p "$worker/data" "$worker/exec"
    write_config "$worker"
    ip netns add "$netns"
    ip link add "$veth" type veth peer name eth0 netns "$netns"
    ip link set "$veth" master "$bridge" up
    ip -n "$netns" addr add "$worker_address/24" dev eth0
    ip -n "$netns" link set eth0 up
    ip -n "$netns" link set lo up
    run_worker_daemon
    # The join token goes on stdin, never in argv.
    local token
    token=$(docker_api http://docker/v1.41/swarm | sed -n 's/.*"Worker":"\([^"]*\)".*/\1/p')
    printf '{"ListenAddr":"%s:2377","AdvertiseAddr":"%s","RemoteAddrs":["%s:2377"],"JoinToken":"%s"}' \
        "$worker_address" "$worker_address" "$address" "$token" |
        worker_api -f -o /dev/null -H 'Content-Type: application/json' -X POST http://docker/v1.41/swarm/join -d @- ||
        { echo "test-dockerd: the worker did not join; log:" >&2; tail -20 "$worker/dockerd.log" >&2; exit 1; }
}

start() {
    command -v dockerd >/dev/null || { echo "test-dockerd: dockerd is missing: apt-get install -y docker.io" >&2; exit 1; }
    mkdir -p "$dir/data" "$dir/exec"
    # dockerd 20.10 writes its identity key to /etc/docker/key.json (no flag moves it).
    [ -e /etc/docker/key.json ] || touch "$dir/made-key"
    write_config "$dir"
    if [ "$userns" = userns ]; then
        if ! getent passwd "$remap_user" >/dev/null; then
            useradd --system --no-create-home --shell /usr/sbin/nologin "$remap_user"
            touch "$dir/made-user"
        fi
        for file in /etc/subuid /etc/subgid; do
            grep -qx "$remap_line" "$file" 2>/dev/null || { echo "$remap_line" >>"$file"; touch "$dir/made-$(basename "$file")"; }
        done
    fi
    ip link add "$bridge" type bridge 2>/dev/null || true
    ip addr add "$address/24" dev "$bridge" 2>/dev/null || true
    ip link set "$bridge" up
    run_detached "$dir/dockerd.log" dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" \
        --exec-root "$dir/exec" -H "unix://$socket" --pidfile "$pidfile" --bridge "$bridge" \
        --iptables=false --ip-masq=false --ip-forward=false --userland-proxy=true
    wait_ready "$socket" "$dir/dockerd.log"
    docker_api -f -o /dev/null -H 'Content-Type: application/json' -X POST http://docker/v1.41/swarm/init \
        -d "{\"ListenAddr\":\"$address:2377\",\"AdvertiseAddr\":\"$address\",\"DefaultAddrPool\":[\"10.201.128.0/17\"],\"SubnetSize\":24}" ||
        { echo "test-dockerd: swarm init failed; log:" >&2; tail -20 "$dir/dockerd.log" >&2; exit 1; }
    start_worker
    echo "$socket"
}

# Stops the daemon of pidfile $1: TERM, then KILL after 3 s (everything it made is removed
# below anyway).
stop_daemon() {
    [ -f "$1" ] || return 0
    local pid
    pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
}

stop() {
    if [ -S "$socket" ]; then
        # Services first, so their tasks' containers go before the daemons do.
        for id in $(docker_api http://docker/v1.41/services 2>/dev/null | grep -o '"ID":"[a-z0-9]*"' | cut -d'"' -f4); do
            docker_api -X DELETE "http://docker/v1.41/services/$id" >/dev/null 2>&1 || true
        done
    fi
    if [ -S "$worker/docker.sock" ]; then
        worker_api -X POST 'http://docker/v1.41/swarm/leave?force=1' >/dev/null 2>&1 || true
    fi
    stop_daemon "$worker/dockerd.pid"
    [ -S "$socket" ] && docker_api -X POST 'http://docker/v1.41/swarm/leave?force=1' >/dev/null 2>&1 || true
    stop_daemon "$pidfile"
    # containerd-shims and docker-proxies the daemons left (they outlive a killed dockerd).
    for pid in $(pgrep -f -- "$dir/" 2>/dev/null || true); do
        [ "$pid" != "$$" ] && kill -KILL "$pid" 2>/dev/null || true
    done
    # Mounts under the folder, deepest first (overlay layers, netns files, shm).
    awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r mount; do
        umount -l "$mount" 2>/dev/null || true
    done
    ip netns del "$netns" 2>/dev/null || true
    ip link del "$veth" 2>/dev/null || true
    ip link del "$bridge" 2>/dev/null || true
    [ -e "$dir/made-key" ] && rm -f /etc/docker/key.json
    for file in /etc/subuid /etc/subgid; do
        [ -e "$dir/made-$(basename "$file")" ] && sed -i "/^$remap_line\$/d" "$file"
    done
    [ -e "$dir/made-user" ] && userdel "$remap_user" 2>/dev/null
    # The engine's plugin folder (a fixed path): removed when empty.
    rmdir /run/docker/plugins /run/docker 2>/dev/null || true
    ip link del docker_gwbridge 2>/dev/null || true
    rm -rf "$dir"
}

case "$action" in
    start) start ;;
    stop) stop ;;
    restart-worker) restart_worker ;;
    *) echo "usage: $0 start|stop|restart-worker DIR" >&2; exit 2 ;;
esac
