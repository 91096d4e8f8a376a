#!/usr/bin/env bash
# Builds a valgrind that can run the router (for bench/proxy/instructions.sh): Debian 12's
# 3.19 cannot read Swift's DWARF 5, and every valgrind up to at least 3.24 dies with SIGSEGV
# on Swift binaries because its rt_sigsuspend wrapper edits the client's signal mask in place,
# and libdispatch passes a constant (read-only) one. This takes Debian 13's source package
# (3.24, through apt with a private source list; nothing is added to the system's), patches
# the wrapper to work on a copy, and installs it under PREFIX (default /opt/valgrind-swift).
#
#   bash bench/proxy/build-valgrind.sh [PREFIX]
#   PATH=/opt/valgrind-swift/bin:$PATH bash bench/proxy/instructions.sh
#
# Needs root (apt), gcc, make, python3 and bzip2 (bash bench/proxy/setup.sh installs them);
# about 10 minutes on 2 cores. `bash bench/proxy/setup.sh --valgrind` runs it when
# /opt/valgrind-swift has no valgrind yet.
set -euo pipefail
PREFIX=${1:-/opt/valgrind-swift}
work=$(mktemp -d /tmp/valgrind-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
for tool in gcc make python3 bzip2; do
    command -v "$tool" >/dev/null || { echo "build-valgrind.sh: $tool is missing; as root, run: bash $(dirname "$0")/setup.sh" >&2; exit 1; }
done

mkdir -p "$work/lists/partial"
echo "deb-src http://deb.debian.org/debian trixie main" >"$work/sources.list"
apt_options=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$work/lists")
apt-get "${apt_options[@]}" update -qq
(cd "$work" && apt-get "${apt_options[@]}" source --download-only valgrind >/dev/null)
tarball=$(ls "$work"/valgrind_*.orig.tar.bz2)
tar -C "$work" -xjf "$tarball"
source_dir=$(ls -d "$work"/valgrind-*/ | head -n 1)

python3 - "$source_dir/coregrind/m_syswrap/syswrap-linux.c" <<'PATCH'
import sys
path = sys.argv[1]
text = open(path).read()
old = """      if (ML_(safe_to_deref)((vki_sigset_t *) (Addr)ARG1, sizeof(vki_sigset_t))) {
         VG_(sigdelset)((vki_sigset_t *) (Addr)ARG1, VG_SIGVGKILL);"""
new = """      if (ML_(safe_to_deref)((vki_sigset_t *) (Addr)ARG1, sizeof(vki_sigset_t))) {
         /* The client's mask may be read-only (a constant): work on a copy. */
         static vki_sigset_t suspend_masks[2048];
         vg_assert(tid < 2048);
         suspend_masks[tid] = *(vki_sigset_t *) (Addr)ARG1;
         VG_(sigdelset)(&suspend_masks[tid], VG_SIGVGKILL);
         ARG1 = (Addr)&suspend_masks[tid];"""
if old not in text:
    sys.exit("build-valgrind.sh: the rt_sigsuspend wrapper changed; check whether this valgrind still needs the patch")
open(path, "w").write(text.replace(old, new))
PATCH

cd "$source_dir"
./configure --prefix="$PREFIX" >"$work/configure.log"
make -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -n 30 "$work/make.log" >&2; exit 1; }
make install >/dev/null
"$PREFIX/bin/valgrind" --version
