#!/usr/bin/env bash
# Benchmark (not a test): a code-only redeploy of the FastAPI fixture with the install
# cache, against the same redeploy with NO_CACHE=1, in the same run on the same server.
# Prints each run, the medians and their ratio. Issue 4's goal: the cached redeploy takes
# no more than 20% of the uncached one.
#
#   bench/build-cache.sh [ROUNDS]      (default 3 rounds of each; needs root and PyPI)
#   BENCH_SERVE_ARGS=--build-in-folders bench/build-cache.sh   (the folder path: this
#                                       machine's python, the install cache's .venv folders)
#
# `yard serve` builds in images by default: the python environment image, the install steps
# as an image of their own keyed by requirements.txt (the install cache), pip's cache as a
# cache mount. Uses the release build (built if missing; YARD_BINARY=path picks another
# binary, e.g. the debug build) and the sandbox runtime, as `scripts/serve.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
export PATH="/opt/swift/usr/bin:$PATH"
if [ -n "${YARD_BINARY:-}" ]; then
    yard="$YARD_BINARY"
else
    [ -x .build/release/yard ] || scripts/release-build.sh --product yard
    yard="$PWD/.build/release/yard"
fi

work="$(mktemp -d /tmp/yard-bench-cache-XXXXXX)"
# Image builds' steps run as root of a user namespace, which must reach the data directory.
chmod 711 "$work"
serve_pid=""
cleanup() {
    if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
        kill -TERM "$serve_pid"
        wait "$serve_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

export YARD_CONFIG_DIR="$work/cli"
"$yard" serve --data-dir "$work/data" --http-port 0 --api-port 0 --http-host 127.0.0.1 \
    --network-prefix ybc --private-network-octet 212 ${BENCH_SERVE_ARGS:-} >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 300); do
    [ -s "$work/data/serve.json" ] && break
    sleep 0.1
done
[ -s "$work/data/serve.json" ] || { echo "yard serve did not start:"; cat "$work/serve.log"; exit 1; }

app="$work/app"
cp -r Tests/YardEndToEndTests/Fixtures/fastapi-app "$app"
cd "$app"
"$yard" init --name bench >/dev/null
# A machine whose HTTPS goes through an intercepting proxy trusted only by the host (its CA is
# not in Debian's image): BENCH_PIP_TRUSTED_HOST="pypi.org files.pythonhosted.org" lets the
# image build's pip reach PyPI without verifying it. Measurement only; never for real apps.
if [ -n "${BENCH_PIP_TRUSTED_HOST:-}" ]; then
    "$yard" variables set "PIP_TRUSTED_HOST=$BENCH_PIP_TRUSTED_HOST" >/dev/null
fi
now_ms() { date +%s%3N; }

echo "first deploy (fills the install cache)..."
first_start=$(now_ms)
"$yard" up >"$work/first.log" 2>&1 || { cat "$work/first.log"; exit 1; }
echo "first deploy: $(($(now_ms) - first_start)) ms ($(grep -o 'build environment [^ ]* \(is in\|built in\|loaded from\).*' "$work/first.log" | head -n 1 || true))"

# One code-only change and redeploy; prints the milliseconds `yard up` took (upload,
# build, health check, cutover).
redeploy() {
    echo "# change $1" >>main.py
    local start end
    start=$(now_ms)
    "$yard" up >"$work/up-$1.log" 2>&1 || { cat "$work/up-$1.log"; exit 1; }
    end=$(now_ms)
    echo $((end - start))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

cached=()
for i in $(seq 1 "$rounds"); do
    ms=$(redeploy "cached-$i")
    grep -q "install cache hit" "$work/up-cached-$i.log" || { echo "expected a cache hit:"; cat "$work/up-cached-$i.log"; exit 1; }
    cached+=("$ms")
    echo "cached redeploy $i: ${ms} ms"
done

"$yard" variables set NO_CACHE=1 >/dev/null
uncached=()
for i in $(seq 1 "$rounds"); do
    ms=$(redeploy "uncached-$i")
    grep -q "install cache bypassed" "$work/up-uncached-$i.log" || { echo "expected a bypass:"; cat "$work/up-uncached-$i.log"; exit 1; }
    uncached+=("$ms")
    echo "uncached redeploy $i (NO_CACHE=1): ${ms} ms"
done

cached_median=$(printf '%s\n' "${cached[@]}" | median)
uncached_median=$(printf '%s\n' "${uncached[@]}" | median)
ratio=$(awk -v c="$cached_median" -v u="$uncached_median" 'BEGIN { printf "%.3f", c / u }')
echo
echo "median code-only redeploy: cached ${cached_median} ms, uncached ${uncached_median} ms"
echo "ratio cached/uncached: ${ratio} (goal: <= 0.200)"
