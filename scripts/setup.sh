#!/usr/bin/env bash
# Installs every system package Switchyard needs and builds it. Idempotent; run as root on
# Debian 12. Usage: scripts/setup.sh [debug|release]
set -euo pipefail
configuration="${1:-debug}"
cd "$(dirname "$0")/.."

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: run as root (sudo $0) so system packages can be installed" >&2
        exit 1
    fi
}

# Packages the platform and its tests use: git (source packing, later git push), tar,
# python3 with venv and pip (python provider), node and npm (node provider), curl,
# procps and util-linux (process tools, nsenter, setpriv), bubblewrap, iproute2 and
# iptables (the sandbox runtime and private networks), openssl (the local certificate
# authority for HTTPS), postgresql, redis-server and mariadb-server (the servers `yard add
# --database` runs), and their psql, redis-cli and mysql clients (mariadb-client), and
# sqlite3 (the store tests read the database file with it); buildah, podman, runc, skopeo,
# uidmap and fuse-overlayfs (images: Dockerfile builds, image services, instance layers),
# debootstrap (base images made here, since no public registry may be reachable) and
# docker-registry (the tests' private registry); docker.io (the swarm runtime, and the
# private dockerd its tests start by hand with scripts/test-dockerd.sh); chromium and
# chromium-driver (the dashboard's browser tests, DashboardEndToEndTests); python3-aiosmtpd (the
# real SMTP server alert email tests receive on loopback).
packages=(git tar openssl python3 python3-venv python3-pip curl ca-certificates procps util-linux bubblewrap iproute2 iptables
    postgresql redis-server mariadb-server mariadb-client sqlite3
    buildah podman runc skopeo uidmap fuse-overlayfs debootstrap docker-registry docker.io chromium chromium-driver python3-aiosmtpd)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    need_root
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The database packages would start system-wide servers; Switchyard runs its own.
    policy_added=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_added=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ "$policy_added" -eq 1 ]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
fi

# Image replicas run in user namespaces mapped to 65536-id blocks from 2^31 up
# (SandboxIdentity+Images.swift); newuidmap (uidmap) maps them only when root's subordinate
# ids include them.
subordinate="root:2147483648:2130706432"
for file in /etc/subuid /etc/subgid; do
    if ! grep -qx "$subordinate" "$file" 2>/dev/null; then
        need_root
        echo "setup: adding $subordinate to $file"
        echo "$subordinate" >>"$file"
    fi
done

# schemathesis (PyPI) checks a live server against openapi/openapi.yaml in the end-to-end
# tests (OpenAPIConformanceEndToEndTests); it lives in its own venv under .build-tools.
schemathesis_version=4.32.5
schemathesis_venv=.build-tools/schemathesis
if ! "$schemathesis_venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
    echo "setup: installing schemathesis $schemathesis_version into $schemathesis_venv"
    python3 -m venv "$schemathesis_venv"
    "$schemathesis_venv/bin/pip" install -q "schemathesis==$schemathesis_version"
fi

# prometheus-client (PyPI): its text parser reads `/metrics` in the end-to-end tests
# (MetricsEndpointEndToEndTests); its own venv under .build-tools.
prometheus_client_version=0.26.0
prometheus_venv=.build-tools/prometheus
if ! "$prometheus_venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('prometheus-client') != '$prometheus_client_version')" 2>/dev/null; then
    echo "setup: installing prometheus-client $prometheus_client_version into $prometheus_venv"
    python3 -m venv "$prometheus_venv"
    "$prometheus_venv/bin/pip" install -q "prometheus-client==$prometheus_client_version"
fi

# kubernetes-validate (PyPI) checks `yard export kubernetes`'s manifests offline against the
# API's schemas in strict mode (KubernetesExportTests); its own venv, which brings PyYAML too.
kubernetes_validate_version=1.37.0
kubernetes_venv=.build-tools/kubernetes
if ! "$kubernetes_venv/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$kubernetes_validate_version"; then
    echo "setup: installing kubernetes-validate $kubernetes_validate_version into $kubernetes_venv"
    python3 -m venv "$kubernetes_venv"
    "$kubernetes_venv/bin/pip" install -q "kubernetes-validate==$kubernetes_validate_version"
fi

# opentelemetry-proto (PyPI) decodes what `yard serve --otlp-endpoint` sends to the OTLP/HTTP
# receiver in the end-to-end tests (OTLPExportEndToEndTests); its own venv under .build-tools.
otlp_proto_version=1.45.2
otlp_venv=.build-tools/otlp
if ! "$otlp_venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('opentelemetry-proto') != '$otlp_proto_version')" 2>/dev/null; then
    echo "setup: installing opentelemetry-proto $otlp_proto_version into $otlp_venv"
    python3 -m venv "$otlp_venv"
    "$otlp_venv/bin/pip" install -q "opentelemetry-proto==$otlp_proto_version"
fi

# selenium drives chromium in the dashboard's browser tests and axe-selenium-python brings
# axe-core for their accessibility checks (Tests/Browser/dashboard_test.py); own venv.
browser_venv=.build-tools/browser
if ! "$browser_venv/bin/python" -c 'import selenium, axe_selenium_python' 2>/dev/null; then
    echo "setup: installing selenium and axe-selenium-python into $browser_venv"
    python3 -m venv "$browser_venv"
    "$browser_venv/bin/pip" install -q "selenium==4.27.1" "axe-selenium-python==2.1.6"
fi

if ! command -v swift >/dev/null 2>&1; then
    for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
        [ -x "$candidate/swift" ] && export PATH="$candidate:$PATH"
    done
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "setup: Swift 6.3 is required and was not found on PATH; install it from swift.org into /opt/swift" >&2
    exit 1
fi

echo "setup: building yard ($configuration)"
# A release build goes through scripts/release-build.sh, like the benchmarks: the same flags.
build=(swift build -c "$configuration")
[ "$configuration" = release ] && build=(scripts/release-build.sh)
"${build[@]}" --product yard 2>&1 | grep -vE "^warning: .*(unhandled|Source files for target)" || true
test -x ".build/$configuration/yard" || { echo "setup: the build failed (see above)" >&2; exit 1; }
echo "setup: ready: .build/$configuration/yard"
