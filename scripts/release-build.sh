#!/usr/bin/env bash
# The one way Switchyard is built for release: `yard serve` from scripts/serve.sh, and every
# benchmark, so what is measured is what runs. Arguments go to `swift build -c release`
# (e.g. --product yard, --show-bin-path).
#
# Two flags, applied to every module (SwiftNIO's too), each measured on the router
# (docs/performance.md, "Release builds: no run-time exclusivity checks, cross-module
# optimization"):
# - -enforce-exclusivity=unchecked leaves out Swift's run-time exclusivity checks, about a
#   fifth of the router's instructions per request (a check on nearly every class property
#   and buffer access, each with a thread-local look-up). The compiler's static checks still
#   hold in every build, and debug builds, which the whole test suite runs, keep the run-time
#   checks: an overlapping access a test reaches traps there. SWITCHYARD_EXCLUSIVITY=checked
#   builds a release binary with them.
# - -cross-module-optimization lets SwiftNIO's generic code be specialized for the router's
#   types (a message's unwrapping, the decoders' buffers) instead of running unspecialized
#   with run-time type look-ups: about 3 % of the router's instructions.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v swift >/dev/null 2>&1; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
case ${SWITCHYARD_EXCLUSIVITY:-unchecked} in
    unchecked | checked) ;;
    *) echo "release-build.sh: SWITCHYARD_EXCLUSIVITY is checked or unchecked, not '$SWITCHYARD_EXCLUSIVITY'" >&2; exit 2 ;;
esac
exec swift build -c release -Xswiftc "-enforce-exclusivity=${SWITCHYARD_EXCLUSIVITY:-unchecked}" -Xswiftc -cross-module-optimization "$@"
