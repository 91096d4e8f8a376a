#!/usr/bin/env bash
# A private Docker Engine for tests and development: `start DIR` runs dockerd (Debian's
# docker.io) with everything under DIR (data root, exec root, socket, pidfile), its own
# bridge and address pools in 10.201.0.0/16, no iptables rules, and makes it a one-node
# swarm on a loopback address of its own (127.201.x.y); `stop DIR` stops it and removes
# everything it made (containers, mounts, network namespaces, links, the folder). Prints
# the socket path on start.
# Usage: scripts/test-dockerd.sh start|stop DIR
set -euo pipefail
action="${1:-}"
dir="${2:-}"
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
# Docker's own links: docker0 is renamed per daemon (bridge name below), docker_gwbridge is
# fixed, overlay and veth links carry the daemon's ids.
hash=$(basename "$dir" | md5sum)
bridge="ydk${hash:0:8}"
# The swarm's own loopback address: its gossip port (7946) is fixed, so two daemons on one
# machine (two test runs) each need an address of their own.
address="127.201.$((16#${hash:8:2})).$((16#${hash:10:2} % 254 + 1))"

docker_api() { curl -sS --unix-socket "$socket" "$@"; }

start() {
    command -v dockerd >/dev/null || { echo "test-dockerd: dockerd is missing: apt-get install -y docker.io" >&2; exit 1; }
    mkdir -p "$dir/data" "$dir/exec"
    # dockerd 20.10 writes its identity key to /etc/docker/key.json (no flag moves it).
    [ -e /etc/docker/key.json ] || touch "$dir/made-key"
    cat >"$dir/daemon.json" <<EOF
{
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 20000, "Hard": 20000}},
  "default-address-pools": [{"base": "10.201.64.0/18", "size": 24}]
}
EOF
    ip link add "$bridge" type bridge 2>/dev/null || true
    ip addr add 10.201.0.1/24 dev "$bridge" 2>/dev/null || true
    ip link set "$bridge" up
    # The registry and image tests pull nothing from the internet; a digest-less image
    # name is used as loaded (`docker load`), never pulled.
    # The daemon keeps no descriptor of ours beyond its log (a caller waiting for every
    # holder of its pipes or exit socket would wait for the daemon).
    (
        for fd in $(ls /proc/$BASHPID/fd); do
            [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
        done
        DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 exec setsid dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" \
            --exec-root "$dir/exec" -H "unix://$socket" --pidfile "$pidfile" --bridge "$bridge" \
            --iptables=false --ip-masq=false --ip-forward=false --userland-proxy=true
    ) >"$dir/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 200); do
        [ -S "$socket" ] && docker_api -o /dev/null http://docker/_ping 2>/dev/null && break
        sleep 0.05
    done
    docker_api -f -o /dev/null http://docker/_ping || { echo "test-dockerd: dockerd did not start; log:" >&2; tail -20 "$dir/dockerd.log" >&2; exit 1; }
    docker_api -f -o /dev/null -H 'Content-Type: application/json' -X POST http://docker/v1.41/swarm/init \
        -d "{\"ListenAddr\":\"$address:2377\",\"AdvertiseAddr\":\"$address\",\"DefaultAddrPool\":[\"10.201.128.0/17\"],\"SubnetSize\":24}" ||
        { echo "test-dockerd: swarm init failed; log:" >&2; tail -20 "$dir/dockerd.log" >&2; exit 1; }
    echo "$socket"
}

stop() {
    if [ -S "$socket" ]; then
        # Services first, so their tasks' containers go before the daemon does.
        for id in $(docker_api http://docker/v1.41/services 2>/dev/null | grep -o '"ID":"[a-z0-9]*"' | cut -d'"' -f4); do
            docker_api -X DELETE "http://docker/v1.41/services/$id" >/dev/null 2>&1 || true
        done
        docker_api -X POST 'http://docker/v1.41/swarm/leave?force=1' >/dev/null 2>&1 || true
    fi
    if [ -f "$pidfile" ]; then
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # containerd-shims and docker-proxies the daemon left (they outlive a killed dockerd).
    for pid in $(pgrep -f -- "$dir/" 2>/dev/null || true); do
        [ "$pid" != "$$" ] && kill -KILL "$pid" 2>/dev/null || true
    done
    # Mounts under the folder, deepest first (overlay layers, netns files, shm).
    awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r mount; do
        umount -l "$mount" 2>/dev/null || true
    done
    ip link del "$bridge" 2>/dev/null || true
    [ -e "$dir/made-key" ] && rm -f /etc/docker/key.json
    # The engine's plugin folder (a fixed path): removed when empty.
    rmdir /run/docker/plugins /run/docker 2>/dev/null || true
    ip link del docker_gwbridge 2>/dev/null || true
    rm -rf "$dir"
}

case "$action" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
