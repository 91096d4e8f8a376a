#!/usr/bin/env bash
# Quick start, second command: install, build and run every test (unit and end-to-end).
# CI runs this as it is; `YARD_SLOW_TESTS=1 scripts/test.sh` also runs the slow tier (tests
# whose cold cost would break CI's 45-minute budget; they are reported as skipped without it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh debug
export PATH="/opt/swift/usr/bin:$PATH"
# The end-to-end tests drive this binary.
export YARD_BINARY="$PWD/.build/debug/yard"
# The API's generated code must be what openapi/openapi.yaml generates (it is committed so
# that builds need not build the generator).
scripts/generate-openapi.sh --check
swift build --build-tests
status=0
# Two lanes, each serial. The swarm suites (type names holding `Swarm`: a private two-node
# swarm each, on addresses no other test uses) take about 9 of the 29 minutes a serial run
# takes here, mostly waiting for dockerd, so they run beside the rest: the suite takes about
# 22 minutes. Within a lane the end-to-end tests still run one at a time, so a behaviour check
# that reads time (CPU share, grace periods) shares the cores with one other test, not many;
# each `yard serve` claims its own 10.N/16 (YardServer.OctetClaim), whichever lane starts it.
# The swarm lane runs the test binary itself (a second `swift test` would wait for the first's
# lock); its output follows the other lane's.
# After the swarm suites the same lane runs the router's tests once more with plain HTTP/1.1
# on NIO's channels (YARD_ROUTER_OWN_LOOPS=0, about a minute): the path HTTPS's HTTP/1.1
# takes, and the router's before its own event loops (issue 17).
tests="$(swift build --show-bin-path)/switchyardPackageTests.xctest"
swarm_log=$(mktemp /tmp/yard-swarm-lane.XXXXXX)
(
    lane=0
    "$tests" --testing-library swift-testing --no-parallel --filter Swarm || lane=$?
    echo "--- the router's tests with plain HTTP/1.1 on NIO's channels (YARD_ROUTER_OWN_LOOPS=0) ---"
    YARD_ROUTER_OWN_LOOPS=0 "$tests" --testing-library swift-testing --no-parallel --filter YardRouterTests || lane=$?
    exit $lane
) > "$swarm_log" 2>&1 &
swarm_lane=$!
# (`|| true`: under `set -e` a failing kill in the trap would make the exit status 1.)
trap 'kill "$swarm_lane" 2>/dev/null || true; rm -f "$swarm_log"' EXIT
swift test --skip-build --no-parallel --skip Swarm || status=$?
swarm_status=0
wait "$swarm_lane" || swarm_status=$?
echo "--- the swarm lane (--filter Swarm, then the router's tests on NIO) ---"
cat "$swarm_log"
[ "$swarm_status" -eq 0 ] || status=$swarm_status
# Issue 3's acceptance: nothing the tests created may outlive them.
scripts/check-leftovers.sh || status=1
exit $status
