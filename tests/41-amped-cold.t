#!/bin/bash
# The point of AMPED, as a behaviour: behind a slow disk (slowfs, one arm,
# 1.5 s per read), a request for a cold file must not hold up a request for a
# hot one.  AMPED hands the cold read to a helper and serves the hot file at
# once; uring hands it to io_uring, whose io-wq worker waits for the disk;
# SPED reads inline and the hot request waits for the disk.
#
# No clock bounds: the test waits until the cold read is seen blocked (in
# pread64, /proc/PID/syscall; for uring an iou-wrk thread of the server in
# D state), then sends the hot request, and checks the order in which the
# server finished them (its access log): hot first for AMPED and uring,
# cold first for SPED.  The read lasts 1.5 s, so the hot request is always
# sent while it is still in progress.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then echo "1..0 # SKIP needs root (FUSE mount)"; exit 0; fi
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "1..0 # SKIP no FUSE"; exit 0
fi
[ -x build/slowfs ] || { echo "Bail out! build/slowfs missing (run make)"; exit 1; }

SRC=$T/src MNT=$T/mnt
FS_PID=''
mkdir -p "$SRC" "$MNT"
"$PY" - "$SRC" <<'PYEOF'
import random, sys
r = random.Random(41)
open(sys.argv[1] + "/hot.txt", "wb").write(b"hot file\n")
open(sys.argv[1] + "/cold.bin", "wb").write(r.randbytes(65536))
PYEOF

is_mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }
umount_fs() {
	if is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null
	fi
	if [ -n "$FS_PID" ]; then
		kill "$FS_PID" 2>/dev/null
		wait "$FS_PID" 2>/dev/null
		FS_PID=''
	fi
}
cold_cleanup() { lib_cleanup_server; umount_fs; rm -rf "$T"; }
lib_cleanup_server() {
	if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
		kill -KILL "$SRV_PID" 2>/dev/null
		wait "$SRV_PID" 2>/dev/null
	fi
}
trap cold_cleanup EXIT

# A fresh mount per run: its page cache starts empty.
mount_fs() {
	local i
	build/slowfs --latency-us 1500000 --depth 1 "$SRC" "$MNT" 2>"$T/slowfs.err" &
	FS_PID=$!
	for i in $(seq 1 100); do
		is_mounted "$MNT" && return 0
		sleep 0.05
	done
	return 1
}

# in_pread PID...: 0 if one of the processes is in pread64 (x86_64: 17).
in_pread() {
	local p
	for p in "$@"; do
		case "$(cat "/proc/$p/syscall" 2>/dev/null)" in 17\ *) return 0 ;; esac
	done
	return 1
}

# in_iowq PID: 0 if one of PID's io_uring workers (iou-wrk-N) sleeps in D
# state, i.e. waits for the disk on the server's behalf.
in_iowq() {
	local t
	for t in /proc/"$1"/task/*; do
		case "$(cat "$t/comm" 2>/dev/null)" in
		iou-wrk-*) [ "$(awk '{ print $3 }' "$t/stat" 2>/dev/null)" = D ] && return 0 ;;
		esac
	done
	return 1
}

run() {
	local bin=$1 model=$2 c i seen pids order
	V="[$bin $model] "
	if ! mount_fs; then ok 1 "slowfs mounts"; umount_fs; return; fi
	ROOT=$MNT
	if ! srv_start "$bin" "$model" --access-log "$T/access.log"; then
		ok 1 "server starts"; umount_fs; return
	fi
	# Warm the hot file (its open and its one read go through the disk).
	c=$(get /hot.txt --max-time 20)
	is "$c" 200 "hot file warms up"
	"${CURL[@]}" --max-time 30 -o "$T/cold.out" -w '%{http_code}' "$SRV_URL/cold.bin" \
		>"$T/cold.code" 2>"$T/cold.err" &
	local cpid=$!
	# Wait (at most 10 s) until the dispatcher or a helper sits in the read.
	seen=1
	for i in $(seq 1 500); do
		pids="$SRV_PID $(pgrep -P "$SRV_PID" | tr '\n' ' ')"
		# shellcheck disable=SC2086
		if in_pread $pids; then seen=0; break; fi
		if [ "$model" = uring ] && in_iowq "$SRV_PID"; then seen=0; break; fi
		sleep 0.02
	done
	ok $seen "the cold read is seen blocked (pread64; uring: an io-wq worker in D)"
	c=$("${CURL[@]}" --max-time 30 -o "$T/hot.out" -w '%{http_code}' "$SRV_URL/hot.txt")
	is "$c" 200 "hot file served during the cold read"
	wait "$cpid"
	is "$(cat "$T/cold.code")" 200 "cold file served"
	ok "$(fcmp "$T/cold.out" "$SRC/cold.bin"; echo $?)" "cold file intact"
	ok "$(fcmp "$T/hot.out" "$SRC/hot.txt"; echo $?)" "hot file intact"
	srv_stop TERM
	order=$(awk '{ print $7 }' "$T/access.log" | tail -n 2 | tr '\n' ' ')
	if [ "$model" = amped ]; then
		is "$order" "/hot.txt /cold.bin " "AMPED: the hot request finished first (a helper waited for the disk)"
	elif [ "$model" = uring ]; then
		is "$order" "/hot.txt /cold.bin " "uring: the hot request finished first (an io-wq worker waited for the disk)"
	else
		is "$order" "/cold.bin /hot.txt " "SPED: the hot request finished after the cold read (the loop blocked)"
	fi
	rm -f "$T/access.log"
	umount_fs
}

for b in "${BINS[@]}"; do
	for m in amped sped uring; do
		run "$b" "$m"
	done
done
V=''
done_testing
