#!/usr/bin/env bash
# Installs the Debian packages the proxy benchmarks need (run.sh, h2.sh, instructions.sh,
# instructions-h2.sh, profile.sh, syscalls.sh, build-valgrind.sh): only those whose tools
# are missing, saying which, and without letting nginx's and HAProxy's packages start
# system services. Quiet when nothing is missing; needs root when something is.
#
#   bash bench/proxy/setup.sh [--valgrind] [PACKAGE...]
#
# PACKAGE limits it to some of its packages (run.sh asks for its own). --valgrind also
# builds the valgrind that runs Swift binaries into /opt/valgrind-swift unless it is there
# (build-valgrind.sh, about 10 minutes): instructions.sh and instructions-h2.sh need it to
# measure the router.
set -euo pipefail

# Each package and what the benchmarks use from it: commands, or files (a leading /).
catalog=(
    "nginx /usr/sbin/nginx"
    "libnginx-mod-stream /usr/lib/nginx/modules/ngx_stream_module.so"  # instructions.sh -t nginx-stream
    "haproxy /usr/sbin/haproxy"
    "wrk wrk"
    "hey hey"
    "nghttp2-client h2load"
    "openssl openssl"
    "valgrind valgrind callgrind_control callgrind_annotate"
    "strace strace"
    "linux-perf perf"
    "gcc gcc"  # profile.sh's malloc counter, build-valgrind.sh
    "binutils strip"
    "make make"  # make, python3 and bzip2: build-valgrind.sh
    "python3 python3"
    "bzip2 bzip2"
    "util-linux taskset"
    "iproute2 ss"
    "procps pgrep"
)
valgrind_prefix=/opt/valgrind-swift

valgrind=0
wanted=()
for argument in "$@"; do
    case $argument in
        --valgrind) valgrind=1 ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        -*) echo "setup.sh: unknown option '$argument'; see bash $0 -h" >&2; exit 2 ;;
        *) wanted+=("$argument") ;;
    esac
done
known=" ${catalog[*]%% *} "
for package in "${wanted[@]}"; do
    if [[ $known != *" $package "* ]]; then
        echo "setup.sh: '$package' is not one of the benchmarks' packages:${known% }" >&2
        exit 2
    fi
done
if ((valgrind && ${#wanted[@]})); then
    wanted+=(gcc binutils make python3 bzip2)
fi

present() {  # CHECK: a command on PATH, or a file when it starts with /
    if [[ $1 == /* ]]; then [[ -e $1 ]]; else command -v "$1" >/dev/null; fi
}

# Sets `missing` (packages, limited to `wanted` if any) and `absent` (each one's missing tool,
# with the package's name when that differs).
find_missing() {
    local entry package checks check
    missing=() absent=()
    for entry in "${catalog[@]}"; do
        read -r package checks <<<"$entry"
        if ((${#wanted[@]})) && [[ " ${wanted[*]} " != *" $package "* ]]; then
            continue
        fi
        for check in $checks; do
            if ! present "$check"; then
                missing+=("$package")
                if [[ $check == "$package" ]]; then absent+=("$check"); else absent+=("$check ($package)"); fi
                break
            fi
        done
    done
}

listed() {  # ITEM...: "a, b, c"
    local list
    printf -v list '%s, ' "$@"
    echo "${list%, }"
}

find_missing
build_valgrind=0
if ((valgrind)) && [[ ! -x $valgrind_prefix/bin/valgrind ]]; then
    build_valgrind=1
fi
if ((EUID != 0 && (${#missing[@]} || build_valgrind))); then
    printf -v rerun '%q ' sudo bash "$0" "$@"
    if ((${#missing[@]})); then
        echo "setup.sh: missing $(listed "${absent[@]}"); as root, run: ${rerun% }" >&2
    else
        echo "setup.sh: $valgrind_prefix/bin/valgrind is missing; as root, run: ${rerun% }" >&2
    fi
    exit 1
fi

if ((${#missing[@]})); then
    echo "setup.sh: installing ${missing[*]} from Debian's packages"
    # The nginx and haproxy packages would start system-wide services; forbid that.
    policy_added=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_added=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        trap 'exit 130' INT TERM
    fi
    apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
    if ! apt_install "${missing[@]}"; then
        echo "setup.sh: updating the package lists, then installing one package at a time"
        apt-get update -qq
        for package in "${missing[@]}"; do
            if ! apt-cache show "$package" >/dev/null 2>&1; then
                echo "setup.sh: Debian has no package '$package' in this machine's apt sources (/etc/apt/sources.list*)" >&2
            elif ! apt_install "$package"; then
                echo "setup.sh: apt-get install $package failed (apt's errors are above)" >&2
            fi
        done
    fi
    if ((policy_added)); then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT INT TERM
    fi
    find_missing
    if ((${#missing[@]})); then
        echo "setup.sh: still missing after apt-get: $(listed "${absent[@]}")" >&2
        exit 1
    fi
fi

if ((build_valgrind)); then
    echo "setup.sh: building a valgrind that runs Swift binaries into $valgrind_prefix (build-valgrind.sh, about 10 minutes)"
    bash "$(dirname "$0")/build-valgrind.sh" "$valgrind_prefix"
elif ((!valgrind && !${#wanted[@]})) && [[ ! -x $valgrind_prefix/bin/valgrind ]]; then
    echo "setup.sh: note: instructions.sh and instructions-h2.sh measure the router only with $valgrind_prefix/bin/valgrind; bash $0 --valgrind builds it (about 10 minutes)"
fi
