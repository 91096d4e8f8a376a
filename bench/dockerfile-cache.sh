#!/usr/bin/env bash
# Benchmark (not a test): a cold Dockerfile deploy (buildah --no-cache, through NO_CACHE=1)
# against a redeploy after a one-line source change with the layer cache, on the same
# server. Prints each run, the medians and their ratio. Issue 15's goal: the changed
# redeploy takes no more than 20% of the cold one.
#
#   bench/dockerfile-cache.sh [ROUNDS]   (default 3 of each; needs root, buildah and Debian's mirror)
#
# Uses the release build (built if missing) and the sandbox runtime; a run counts when the log
# shows the image built. The changed runs must start from the cached image of the Dockerfile's
# lines before its COPY (DockerfilePrefix, docs/architecture.md).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
export PATH="/opt/swift/usr/bin:$PATH"
# YARD=.build/debug/yard uses another build of yard.
yard="${YARD:-$PWD/.build/release/yard}"
[ -x "$yard" ] || scripts/release-build.sh --product yard
debian=/var/cache/switchyard/debootstrap/bookworm-minbase.tar
[ -s "$debian" ] || { echo "no Debian root filesystem in $debian: run the YardImageTests once (or yard image import --debootstrap bookworm)"; exit 1; }

work="$(mktemp -d /tmp/yard-bench-dockerfile-XXXXXX)"
# Root of a build's user namespace must reach the store's folders by path (mktemp makes 0700).
chmod 711 "$work"
serve_pid=""
cleanup() {
    local status=$?
    if [ "$status" -ne 0 ] && [ -s "$work/serve.log" ]; then
        echo "yard serve's last lines:" >&2
        tail -n 20 "$work/serve.log" >&2
    fi
    if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
        kill -TERM "$serve_pid"
        wait "$serve_pid" 2>/dev/null || true
    fi
    # containers/storage mounts its overlay folder on itself.
    grep -o " $work/[^ ]*" /proc/self/mounts | sort -r | while read -r target; do umount --lazy "$target" || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# The server's image store is <data>/images/storage: Debian goes in first, as `yard image import` would.
podman --root "$work/data/images/storage" --runroot "$work/data/images/run" --storage-driver overlay import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["bash"]' \
    "$debian" docker.io/library/debian:bookworm-slim >/dev/null

export YARD_CONFIG_DIR="$work/cli"
"$yard" serve --data-dir "$work/data" --http-port 0 --api-port 0 --http-host 127.0.0.1 \
    --network-prefix ybd --private-network-octet 199 >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 300); do
    [ -s "$work/data/serve.json" ] && break
    sleep 0.1
done
[ -s "$work/data/serve.json" ] || { echo "yard serve did not start:"; cat "$work/serve.log"; exit 1; }

# A toolchain installed from Debian's mirror (the slow, cacheable step), then the source.
app="$work/app"
mkdir -p "$app"
cat >"$app/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY hello.c .
CMD ["cat", "/src/hello.c"]
DOCKERFILE
printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' >"$app/hello.c"
cd "$app"
"$yard" init --name bench >/dev/null

now_ms() { date +%s%3N; }

# One deploy; prints the milliseconds `yard up` took (upload, build, start).
deploy() {
    local start end
    start=$(now_ms)
    "$yard" up >"$work/up-$1.log" 2>&1 || true
    end=$(now_ms)
    # To stderr: stdout is the caller's $(…).
    grep -q "image localhost/yard/.* built" "$work/up-$1.log" || { echo "the image was not built:" >&2; cat "$work/up-$1.log" >&2; exit 1; }
    echo $((end - start))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

"$yard" variables set NO_CACHE=1 >/dev/null
cold=()
for i in $(seq 1 "$rounds"); do
    ms=$(deploy "cold-$i")
    cold+=("$ms")
    echo "cold deploy $i (NO_CACHE=1): ${ms} ms"
done

"$yard" variables delete NO_CACHE >/dev/null
# Fills the cache (a changed source: the unchanged one would reuse the last image whole).
echo "/* warm */" >>hello.c
deploy warm >/dev/null
changed=()
for i in $(seq 1 "$rounds"); do
    echo "/* change $i */" >>hello.c
    ms=$(deploy "changed-$i")
    grep -q "are unchanged" "$work/up-changed-$i.log" || { echo "expected the cached start of the stage:" >&2; cat "$work/up-changed-$i.log" >&2; exit 1; }
    changed+=("$ms")
    echo "one-line change $i: ${ms} ms"
done

cold_median=$(printf '%s\n' "${cold[@]}" | median)
changed_median=$(printf '%s\n' "${changed[@]}" | median)
ratio=$(awk -v c="$changed_median" -v u="$cold_median" 'BEGIN { printf "%.3f", c / u }')
echo
echo "median Dockerfile deploy: cold ${cold_median} ms, one-line change ${changed_median} ms"
echo "ratio changed/cold: ${ratio} (goal: <= 0.200)"
