#!/bin/bash
# slowfs: the modelled disk.  Content passes through unchanged; a cold read
# pays the latency, a warm one is served by the page cache; depth 1 serializes
# reads like one arm, depth 2 overlaps them; the mount is read-only; symlinks
# stay symlinks; the CLI exit statuses hold.
#
# Timing bounds are one-sided where the model guarantees them (a cold read
# sleeps >= latency; two reads on one arm take >= 2 x latency) and generous
# where they depend on scheduling (warm < 10 ms, two arms < 1.8 x latency).
set -u
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then echo "1..0 # SKIP needs root (FUSE mount)"; exit 0; fi
if [ ! -c /dev/fuse ]; then echo "1..0 # SKIP no /dev/fuse"; exit 0; fi
if ! command -v fusermount3 >/dev/null; then echo "1..0 # SKIP no fusermount3"; exit 0; fi
if [ ! -x build/slowfs ]; then echo "Bail out! build/slowfs missing (run make)"; exit 1; fi

LAT_US=50000
SLOWFS=build/slowfs
tmp=$(mktemp -d /tmp/slowfs-test.XXXXXX)
src=$tmp/src m1=$tmp/m1 m2=$tmp/m2
pid1='' pid2=''

cleanup() {
	for m in "$m1" "$m2"; do
		if is_mounted "$m"; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
		fi
	done
	for p in $pid1 $pid2; do
		if kill -0 "$p" 2>/dev/null; then
			kill "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

n=0
ok() { # ok COND-STATUS DESCRIPTION [DIAG]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		[ -n "${3:-}" ] && echo "# $3"
	fi
}

is_mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }

# Waits (bounded, 5 s) until MOUNTPOINT appears in the mount table.
wait_mounted() {
	local i
	for i in $(seq 1 100); do
		is_mounted "$1" && return 0
		sleep 0.05
	done
	return 1
}

# Timing helper: one process, so fork/exec noise stays out of the numbers.
#   cold_warm FILE OFF     -> "COLD_MS WARM_MS"
#   parallel FILE1 FILE2 OFF -> "WALL_MS" for two concurrent cold 4 KiB reads
# posix_fadvise(DONTNEED) evicts just this file's pages (unlike drop_caches,
# which would disturb everything else on the machine).
timing() {
	python3 - "$@" <<'EOF'
import os, sys, threading, time

def cold_fd(path):
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    return fd

mode = sys.argv[1]
if mode == "cold_warm":
    fd = cold_fd(sys.argv[2]); off = int(sys.argv[3])
    t0 = time.monotonic()
    a = os.pread(fd, 4096, off)
    t1 = time.monotonic()
    b = os.pread(fd, 4096, off)
    t2 = time.monotonic()
    assert len(a) == 4096 and a == b
    print("%.1f %.1f" % ((t1 - t0) * 1e3, (t2 - t1) * 1e3))
elif mode == "parallel":
    fds = [cold_fd(sys.argv[2]), cold_fd(sys.argv[3])]; off = int(sys.argv[4])
    start = threading.Barrier(2)
    spans = [None, None]
    def worker(i):
        start.wait()
        t0 = time.monotonic()
        assert len(os.pread(fds[i], 4096, off)) == 4096
        spans[i] = (t0, time.monotonic())
    ts = [threading.Thread(target=worker, args=(i,)) for i in (0, 1)]
    for t in ts: t.start()
    for t in ts: t.join()
    wall = max(s[1] for s in spans) - min(s[0] for s in spans)
    print("%.1f" % (wall * 1e3))
EOF
}

echo "1..13"

mkdir -p "$src/sub" "$m1" "$m2"
python3 -c '
import random, sys
for name, seed in (("a", 40), ("b", 41)):
    open(sys.argv[1] + "/" + name, "wb").write(random.Random(seed).randbytes(1 << 20))
' "$src"
ln -s a "$src/link"
echo hello > "$src/sub/c"

"$SLOWFS" --latency-us "$LAT_US" --depth 1 "$src" "$m1" 2>"$tmp/log1" &
pid1=$!
"$SLOWFS" --latency-us "$LAT_US" --depth 2 "$src" "$m2" 2>"$tmp/log2" &
pid2=$!
wait_mounted "$m1" && wait_mounted "$m2"
ok $? "two mounts come up (depth 1 and depth 2)" "$(cat "$tmp/log1" "$tmp/log2")"

# 2: content passes through (1 MiB, several FUSE read requests).
want=$(sha256sum <"$src/a") got=$(sha256sum <"$m1/a")
[ "$want" = "$got" ]
ok $? "sha256 through the mount equals the source" "want $want got $got"

# 3, 4: cold pays the arm, warm is a page-cache hit that never reaches slowfs.
read -r cold warm < <(timing cold_warm "$m1/b" $((512 * 1024)))
awk -v c="${cold:-0}" -v l=$((LAT_US / 1000)) 'BEGIN { exit !(c >= l) }'
ok $? "cold 4 KiB read waits >= $((LAT_US / 1000)) ms (took ${cold:-?} ms)"
awk -v w="${warm:-99}" 'BEGIN { exit !(w < 10) }'
ok $? "warm re-read is a cache hit < 10 ms (took ${warm:-?} ms)"

# 5, 6: one arm serializes, two arms overlap.
par1=$(timing parallel "$m1/a" "$m1/b" $((256 * 1024)))
awk -v t="${par1:-0}" -v l=$((LAT_US / 1000)) 'BEGIN { exit !(t >= 1.9 * l) }'
ok $? "depth 1: two concurrent cold reads take >= 2 x latency (took ${par1:-?} ms)"
par2=$(timing parallel "$m2/a" "$m2/b" $((256 * 1024)))
awk -v t="${par2:-999}" -v l=$((LAT_US / 1000)) 'BEGIN { exit !(t < 1.8 * l) }'
ok $? "depth 2: two concurrent cold reads overlap, < 1.8 x latency (took ${par2:-?} ms)"

# 7: read-only.
touch "$m1/new" 2>/dev/null
r_touch=$?
(echo x >>"$m1/a") 2>/dev/null
r_append=$?
[ $r_touch -ne 0 ] && [ $r_append -ne 0 ] && [ ! -e "$src/new" ] &&
	[ "$(sha256sum <"$src/a")" = "$want" ]
ok $? "creating or appending fails and the source is unchanged"

# 8: symlinks pass through as symlinks; subdirectories are listed.
[ -L "$m1/link" ] && [ "$(readlink "$m1/link")" = a ] && [ "$(cat "$m1/sub/c")" = hello ] &&
	[ "$(ls "$m1" | tr '\n' ' ')" = "a b link sub " ]
ok $? "symlink stays a symlink, directories list and read"

# 9, 10: unmount ends slowfs with status 0 and its counters on stderr.
fusermount3 -u "$m1"
wait "$pid1"
r=$?
pid1=''
ok $r "slowfs exits 0 after fusermount3 -u"
reads=$(sed -n 's/.*slowfs: reads=\([0-9]*\) bytes=\([0-9]*\).*/\1 \2/p' "$tmp/log1")
read -r nreads nbytes <<<"${reads:-0 0}"
[ "$nreads" -ge 4 ] && [ "$nbytes" -ge $((1 << 20)) ]
ok $? "exit counters report the reads served (reads=$nreads bytes=$nbytes)" "$(cat "$tmp/log1")"

kill "$pid2"
wait "$pid2"
r=$?
pid2=''
! is_mounted "$m2" && [ $r -eq 0 ]
ok $? "SIGTERM unmounts and exits 0 (status $r)"

# 12, 13: CLI exit statuses.
bad=''
for args in "--bogus $src $m1" "$src" "--depth 0 $src $m1" "--dist weird $src $m1" \
	"--latency-us -5 $src $m1" "--latency-us"; do
	# shellcheck disable=SC2086  # word splitting is the point
	"$SLOWFS" $args 2>/dev/null
	r=$?
	[ $r -eq 2 ] || bad="$bad [$args]=$r"
done
[ -z "$bad" ]
ok $? "usage errors exit 2" "wrong status:$bad"
"$SLOWFS" "$tmp/missing" "$m1" 2>/dev/null
r1=$?
"$SLOWFS" "$src" "$src/a" 2>/dev/null
r2=$?
[ $r1 -eq 1 ] && [ $r2 -eq 1 ] && ! is_mounted "$m1"
ok $? "missing source dir or non-directory mountpoint exits 1 (got $r1 $r2)"
