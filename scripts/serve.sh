#!/usr/bin/env bash
# Quick start, first command: install, build (release) and run `yard serve` with its
# embedded defaults (SQLite under /var/lib/switchyard, plain-process runtime until the
# sandbox lands). Extra arguments go to `yard serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
export PATH="/opt/swift/usr/bin:$PATH"
ln -sf "$PWD/.build/release/yard" /usr/local/bin/yard 2>/dev/null || true
exec .build/release/yard serve "$@"
