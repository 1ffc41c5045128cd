#!/bin/sh
# Install exactly the Debian packages amped needs that are missing.
# Usage: scripts/deps.sh [extra-package ...]
# Quiet when nothing is missing; exit 1 with a clear message when something is
# missing and we are not root (we never call sudo on the user's behalf).
set -eu

PKGS="build-essential make clang llvm libclang-rt-14-dev valgrind libbpf-dev bpftool libelf-dev zlib1g-dev
pkg-config systemtap-sdt-dev fuse3 libfuse3-dev curl wrk apache2-utils httperf
perl coreutils procps iproute2 python3 liburing-dev libbpf-tools gnuplot-nox xxd nodejs
chromium prometheus $*"
# npm ships inside some nodejs builds (e.g. NodeSource's); Debian's is a package
# of its own, which conflicts with those builds, so ask for it only when absent.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$st" in
	ii*) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: run as root (or: apt-get install$missing)" >&2
	exit 1
fi

echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A stale or absent package list makes install fail; refresh once.
apt-get update -qq -o DPkg::Lock::Timeout=600 >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends $missing >/dev/null
echo "deps.sh: done" >&2
