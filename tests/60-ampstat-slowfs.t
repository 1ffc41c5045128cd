#!/bin/bash
# ampstat top on the lesson of Flash: behind a slow disk (slowfs, one arm,
# 300 ms per read), a SPED server's dispatcher waits for the disk itself
# (blocked-io), while an AMPED server's helpers do and its dispatcher does
# not.  Three cold 64 KiB files are fetched one after another while
# ampstat is attached: each needs at least one 300 ms disk read, so whoever
# reads spends >= 900 ms in D state; the bounds below are half of that
# (blocked) and a tenth (not blocked), never speeds.
# Also: requests counted from the server's counter equal the requests made.
# Root only; without BPF it skips, unless AMPED_REQUIRE_BPF=1 (then fails).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top

if [ "$(id -u)" -ne 0 ]; then
	if [ "${AMPED_REQUIRE_BPF:-0}" = 1 ]; then ok 1 "BPF required but not root"; done_testing; exit 1; fi
	echo "1..0 # SKIP needs root"; exit 0
fi
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "1..0 # SKIP no FUSE"; exit 0
fi
for b in build/slowfs build/ampstat; do
	[ -x "$b" ] || { echo "Bail out! $b missing (run make)"; exit 1; }
done

SRC=$T/src MNT=$T/mnt
FS_PID='' AS_PID=''
LAT_MS=300 NFILES=3
mkdir -p "$SRC" "$MNT"
cold_files "$NFILES" 60

cleanup() {
	stop_ampstat
	if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
		kill -KILL "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null
	fi
	umount_fs
	rm -rf "$T"
}
trap cleanup EXIT

# role_ns FILE ROLE FIELD: FIELD of ROLE in the summary (last line), 0 if absent
role_ns() {
	"$PY" -c '
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(sum(r[sys.argv[3]] for r in s["roles"] if r["role"] == sys.argv[2]))' "$@" 2>/dev/null || echo -1
}
summary_field() {
	"$PY" -c '
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(s[sys.argv[2]])' "$@" 2>/dev/null || echo ''
}

run() {
	local model=$1 i code rc
	V="[$model] "
	if ! mount_fs; then ok 1 "slowfs mounts"; umount_fs; return; fi
	ROOT=$MNT
	if ! srv_start "$AMPED_BIN" "$model"; then ok 1 "server starts"; umount_fs; return; fi
	: >"$T/as.err"	# not the previous run's "tracing" line
	build/ampstat top -p "$SRV_PID" -i 0.5 --json >"$T/as.json" 2>"$T/as.err" &
	AS_PID=$!
	for i in $(seq 1 500); do
		grep -q 'tracing pid' "$T/as.err" && break
		kill -0 "$AS_PID" 2>/dev/null || break
		sleep 0.02
	done
	if ! grep -q 'tracing pid' "$T/as.err"; then
		stop_ampstat
		srv_stop TERM
		umount_fs
		if [ "${AMPED_REQUIRE_BPF:-0}" = 1 ]; then
			ok 1 "ampstat attaches (AMPED_REQUIRE_BPF=1)" "$(cat "$T/as.err")"
		else
			skip "ampstat attaches" "BPF unavailable: $(head -c 200 "$T/as.err")"
		fi
		return
	fi
	ok 0 "ampstat attaches"
	code=''
	for i in $(seq 0 $((NFILES - 1))); do
		code="$code$(get "/cold$i.bin" --max-time 30)"
	done
	is "$code" "$(printf '200%.0s' $(seq 1 $NFILES))" "$NFILES cold files served"
	kill -INT "$AS_PID"
	wait "$AS_PID"
	rc=$?
	AS_PID=''
	is "$rc" 0 "ampstat exits 0 on SIGINT"
	is "$(summary_field "$T/as.json" requests)" "$NFILES" "requests counted from the server's counter: $NFILES"
	local disp help lo hi
	disp=$(role_ns "$T/as.json" dispatcher blocked_io_ns)
	help=$(role_ns "$T/as.json" helpers blocked_io_ns)
	lo=$((NFILES * LAT_MS * 1000000 / 2))
	hi=$((NFILES * LAT_MS * 1000000 / 10))
	if [ "$model" = sped ]; then
		ok "$([ "$disp" -ge "$lo" ]; echo $?)" "SPED: the dispatcher is in blocked-io (${disp} ns >= ${lo})"
	else
		ok "$([ "$help" -ge "$lo" ]; echo $?)" "AMPED: the helpers are in blocked-io (${help} ns >= ${lo})"
		ok "$([ "$disp" -ge 0 ] && [ "$disp" -le "$hi" ]; echo $?)" \
			"AMPED: the dispatcher is not (${disp} ns <= ${hi})"
	fi
	srv_stop TERM
	umount_fs
}

run sped
run amped
V=''
done_testing
