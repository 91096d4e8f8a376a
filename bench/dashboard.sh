#!/usr/bin/env bash
# The dashboard's pages for a project of 50 services (issue 19: a page's HTML in under
# 50 ms on the server), measured here rather than in a timed test. Builds DashboardBench
# (release) and runs it ROUNDS times: each round serves the API and the dashboard from one
# application on a seeded store and asks every row REQUESTS times, one at a time, over a real
# loopback connection. Each row's median is shown against the API's JSON answer for the same
# environment, from the same server in the same round (see bench/DashboardBench/main.swift).
#
#   bash bench/dashboard.sh [-n REQUESTS] [-r ROUNDS] [-b BINARY]
#
# -b runs the DashboardBench at BINARY instead of building one.
set -euo pipefail

REQUESTS=${REQUESTS:-50}
ROUNDS=${ROUNDS:-3}
BINARY=
while getopts "n:r:b:h" option; do
    case $option in
        n) REQUESTS=$OPTARG ;;
        r) ROUNDS=$OPTARG ;;
        b) BINARY=$OPTARG ;;
        h) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "dashboard.sh: see bash $0 -h" >&2; exit 2 ;;
    esac
done
for value in "$REQUESTS" "$ROUNDS"; do
    [[ $value =~ ^[1-9][0-9]*$ ]] || { echo "dashboard.sh: -n and -r take positive numbers, not '$value'" >&2; exit 2; }
done

cd "$(dirname "$0")/.."
if [[ -z $BINARY ]]; then
    export PATH=/opt/swift/usr/bin:$PATH
    scripts/release-build.sh --product DashboardBench >/dev/null
    BINARY=$(scripts/release-build.sh --show-bin-path)/DashboardBench
fi
[[ -x $BINARY ]] || { echo "dashboard.sh: $BINARY is not an executable" >&2; exit 1; }

for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round of $ROUNDS (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    "$BINARY" "$REQUESTS"
done
