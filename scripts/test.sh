#!/usr/bin/env bash
# Quick start, second command: install, build and run every test (unit and end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh debug
export PATH="/opt/swift/usr/bin:$PATH"
# The end-to-end tests drive this binary.
export YARD_BINARY="$PWD/.build/debug/yard"
swift build --build-tests
swift test --skip-build
