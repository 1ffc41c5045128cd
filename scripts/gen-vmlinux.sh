#!/bin/sh
# Regenerate vmlinux/vmlinux.h (checked in) from the running kernel's BTF.
set -eu
cd "$(dirname "$0")/.."
btf=/sys/kernel/btf/vmlinux
[ -r "$btf" ] || { echo "gen-vmlinux: $btf not readable: kernel without BTF?" >&2; exit 1; }
bpftool btf dump file "$btf" format c > vmlinux/vmlinux.h.tmp
mv vmlinux/vmlinux.h.tmp vmlinux/vmlinux.h
echo "vmlinux/vmlinux.h: $(wc -l < vmlinux/vmlinux.h) lines from $(uname -r)"
