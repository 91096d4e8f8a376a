#!/usr/bin/env bash
# After the test suite: no network namespace, link, cgroup or iptables chain made by the
# tests may remain
# (tests use the prefixes yt, ys and ye…). Exits non-zero and lists them if any do.
set -u
found=$( { {
    ip netns list 2>/dev/null | awk '{print "netns " $1}'
    ls /sys/class/net 2>/dev/null | sed 's/^/link /'
    find /sys/fs/cgroup -maxdepth 4 -mindepth 1 -type d 2>/dev/null | sed 's/^/cgroup /'
    { iptables-save 2>/dev/null || true; } | sed -n 's/^:\([^ ]*\) .*/chain \1/p' | tr 'A-Z' 'a-z'
} | grep -E '^(netns|link|cgroup|chain) (.*/)?(yt|ys|ye)[0-9a-z_-]*$'
    # A Dockerfile build's RUN steps run as ids of a service's build block (BuildIdentity).
    ps -eo uid=,pid=,args= 2>/dev/null | awk '$1 >= 1610612736 && $1 < 1879048192 { print "build-process " $0 }'
} )
# The image tests' registries (TestRegistry): no docker-registry process or folder may remain.
registries=$( { pgrep -a -f '^/usr/bin/docker-registry serve .*/yard-registry-' 2>/dev/null || true
    ls -d "${TMPDIR:-/tmp}"/yard-registry-* 2>/dev/null | sed 's/^/folder /'; } )
[ -n "$registries" ] && found+=$'\n'"$registries"
# The alert and drain tests' receivers (AlertReceivers, SyslogReceiver): no process or folder may remain.
receivers=$( { pgrep -a -f 'yard-(alert-receivers|syslog)-' 2>/dev/null || true
    ls -d "${TMPDIR:-/tmp}"/yard-alert-receivers-* "${TMPDIR:-/tmp}"/yard-syslog-* 2>/dev/null | sed 's/^/folder /'; } )
[ -n "$receivers" ] && found+=$'\n'"$receivers"
# The unit tests' data directories (TemporaryStore) and git scratch folders.
stores=$(ls -d "${TMPDIR:-/tmp}"/yard-test-* 2>/dev/null | sed 's/^/folder /')
[ -n "$stores" ] && found+=$'\n'"$stores"
# The OTLP tests' receiver (OTLPExportEndToEndTests): no process or folder may remain.
otlp=$( { pgrep -a -f 'receiver\.py .*/yard-otlp-' 2>/dev/null || true
    ls -d "${TMPDIR:-/tmp}"/yard-otlp-* 2>/dev/null | sed 's/^/folder /'; } )
[ -n "$otlp" ] && found+=$'\n'"$otlp"
# Image instances: a buildah container of any test store, or a mount of one (stores live in
# the tests' temporary data directories and scratch folders, yard-images-*, yard-e2e-* …).
for storage in /tmp/*/images/storage.conf /tmp/*/*/images/storage.conf; do
    [ -e "$storage" ] || continue
    names=$(CONTAINERS_STORAGE_CONF="$storage" buildah containers --all --noheading --format '{{.ContainerName}}' 2>/dev/null \
        | grep '^yard-instance-' || true)
    [ -n "$names" ] && found+=$'\n'"$(echo "$names" | sed "s|^|buildah container ($storage) |")"
done
mounts=$(awk '$2 ~ /^\/tmp\/.*\/images\/(instances|storage)/ {print "mount " $2}' /proc/self/mounts)
[ -n "$mounts" ] && found+=$'\n'"$mounts"
# The swarm tests' private dockerds (scripts/test-dockerd.sh): no daemon, shim, folder, mount,
# bridge (ydk…), worker veth (ydv…) or namespace (ydw…), or docker_gwbridge may remain.
dockers=$( { pgrep -a -f -- '/tmp/yard-dockerd-' 2>/dev/null || true
    ls -d /tmp/yard-dockerd-* 2>/dev/null | sed 's/^/folder /'
    awk '$2 ~ /^\/tmp\/yard-dockerd-/ {print "mount " $2}' /proc/self/mounts
    ls /sys/class/net 2>/dev/null | grep -E '^(ydk[0-9a-f]+|ydv[0-9a-f]+|docker_gwbridge)$' | sed 's/^/link /'
    ip netns list 2>/dev/null | awk '$1 ~ /^ydw[0-9a-f]+$/ {print "netns " $1}'
    getent passwd yard-dockremap | sed 's/^/user /'
    grep -H '^yard-dockremap:' /etc/subuid /etc/subgid 2>/dev/null | sed 's/^/subordinate ids /'
    pgrep -a -f -- '^/usr/bin/docker-registry serve .*/swarm-registry/' 2>/dev/null || true
    # The worker's edge (`yard edge` in the worker's namespace, SwarmEndToEndTests).
    pgrep -a -f -- '/yard edge --control ' 2>/dev/null | sed 's/^/edge /' || true; } )
[ -n "$dockers" ] && found+=$'\n'"$dockers"
# The dashboard's browser tests (DashboardEndToEndTests): no chromedriver or headless chromium may remain.
browsers=$(pgrep -a -f '^/usr/bin/chromedriver|/usr/lib/chromium/chromium .*--headless' 2>/dev/null || true)
[ -n "$browsers" ] && found+=$'\n'"$(echo "$browsers" | sed 's/^/browser /')"
# Scratch folders of the tools the tests run: chromium's (DashboardEndToEndTests) and those
# of the database start scripts, which run as nobody outside a sandbox (DatabaseScriptTests).
scratch=$( { ls -d /tmp/org.chromium.Chromium.* /tmp/.org.chromium.Chromium.* 2>/dev/null
    find /tmp -maxdepth 1 -name 'tmp.*' -user nobody 2>/dev/null; } | sed 's/^/folder /')
[ -n "$scratch" ] && found+=$'\n'"$scratch"
found=$(echo "$found" | sed '/^$/d')
if [ -n "$found" ]; then
    echo "leftovers after the tests:"
    echo "$found"
    exit 1
fi
echo "no namespace, link, cgroup or build process left by the tests"
