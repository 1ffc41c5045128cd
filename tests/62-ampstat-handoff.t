#!/bin/bash
# ampstat handoff: the hand-off chains dispatcher -> helper -> dispatcher of
# amped (helper processes), amted (helper threads) and uring (io_uring's
# io-wq workers, iou-wrk), on cold files behind
# slowfs (one arm, LAT_MS per read) under a small closed loop (ampload,
# 2 users, 2 s).  Each model shows round trips woken both ways, by helpers
# of the expected kind, whose phases (queue, on CPU, blocked-io,
# blocked-other, runqueue, wake-up back) sum to the round trip within 1%,
# with queue, on-CPU, blocked-io and wake-up-back time all non-zero and the
# helpers' blocked-io at least half a modelled read.  amped and uring in
# --json (parsed with python's json), amted in text with -i (interim lines).
# Also the command-line contract (ampstat_lib.sh).  Bounds are from the
# modelled disk and the chains' construction, never speeds.
# Root only for the BPF part; without BPF it skips, unless
# AMPED_REQUIRE_BPF=1 (then fails).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
for b in build/ampstat build/ampload; do [ -x $b ] || { echo "Bail out! $b missing (run make)"; exit 1; }; done
A=build/ampstat
AS_CMD=handoff
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top

SRC=$T/src MNT=$T/mnt
FS_PID='' AS_PID=''
LAT_MS=40 NFILES=8

as_cli_contract "-i 0.01" "-i x" "--min-us 5"

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null || [ ! -x build/slowfs ]; then
	skip "cold-file runs" "no FUSE or build/slowfs"
	done_testing; exit $((TAP_FAILED > 0))
fi
mkdir -p "$SRC" "$MNT"
cold_files "$NFILES" 62
{
	echo "# ampload fileset: $NFILES files; \"path size_bytes\""
	for i in $(seq 0 $((NFILES - 1))); do echo "cold$i.bin 65536"; done
} >"$T/manifest"

cleanup() {
	stop_ampstat
	if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
		kill -KILL "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null
	fi
	umount_fs
	rm -rf "$T"
}
trap cleanup EXIT

# run MODEL KIND ARGS...: slowfs, the server, ampstat handoff ARGS, the load,
# SIGINT; 1 (after a test line) when something did not start
run() {
	local model=$1
	shift
	if ! mount_fs; then ok 1 "slowfs mounts"; umount_fs; return 1; fi
	ROOT=$MNT
	if ! srv_start "$AMPED_BIN" "$model"; then ok 1 "server starts"; umount_fs; return 1; fi
	if ! as_start -p "$SRV_PID" "$@"; then
		srv_stop TERM; umount_fs
		bpf_unavailable
	fi
	timeout 30 build/ampload -m closed -c 2 -d 2 -w 0 --fileset "$T/manifest" -q "$SRV_URL/" \
		>"$T/load.out" 2>&1
	is "$?" 0 "ampload ran" "$(tail -5 "$T/load.out")"
	as_stop
	is "$RC_AS" 0 "SIGINT: exits 0" "$(cat "$T/as.err")"
	RUN_PID=$SRV_PID
	srv_stop TERM
	umount_fs
}

# json_run MODEL KIND NAME_PREFIX: a --json run; its facts checked
json_run() {
	local model=$1 kind=$2 prefix=$3 f n
	V="[$model json] "
	run "$model" --json
	"$PY" - "$T/as.out" "$kind" "$LAT_MS" "$prefix" >"$T/facts" <<'PYEOF'
import json, sys
try:
    objs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
except ValueError as e:
    print("parse error: %s" % e)
    sys.exit(0)
kind, lat_ms, prefix = sys.argv[2], int(sys.argv[3]), sys.argv[4]
sm = objs[-1]
rt = sm["all"]["round_trips"]
ph = rt["phases_ns"]
print("type=%s end=%s" % (sm.get("type"), sm.get("end")))
print("trips=%d" % rt["chains"])
print("kinds=%s" % ",".join(sorted({h["kind"] for h in sm["helpers"] if h["round_trips"]["chains"]})))
print("names=%s" % ("ok" if all(h["comm"].startswith(prefix) for h in sm["helpers"]) else "bad"))
s = sum(ph.values())
print("sum=%s" % ("ok" if rt["total_ns"] and abs(s - rt["total_ns"]) <= rt["total_ns"] / 100 else
                  "bad %d vs %d" % (s, rt["total_ns"])))
print("nonzero=%s" % ",".join(k for k in ("queue", "on_cpu", "blocked_io", "wakeup_back") if ph[k] > 0))
io = sum(sm["all"][k]["phases_ns"]["blocked_io"] for k in ("round_trips", "not_woken_back", "continued"))
print("io=%s" % ("ok" if io >= lat_ms * 1000000 // 2 else "low %d ns" % io))
print("cost=%s" % ("ok" if "run_ns" in sm["bpf"] else "missing"))
PYEOF
	f=$(cat "$T/facts")
	like "$f" "type=summary end=signal" "the last line is the summary (end: signal)" "$(head -c 2000 "$T/as.out")"
	n=$(sed -n 's/^trips=//p' "$T/facts")
	ok "$([ "${n:-0}" -ge 1 ]; echo $?)" "round trips woken both ways: ${n:-0} >= 1" "$f"
	like "$f" "kinds=$kind$" "the helpers are of kind $kind" "$f"
	like "$f" "names=ok" "the helpers are named $prefix..."
	like "$f" "sum=ok" "phases sum to the round trips within 1%" "$f"
	like "$f" "nonzero=queue,on_cpu,blocked_io,wakeup_back" "queue, on-CPU, blocked-io and wake-up-back time are non-zero" "$f"
	like "$f" "io=ok" "helpers' blocked-io >= half a modelled read ($((LAT_MS / 2)) ms)" "$f"
	like "$f" "cost=ok" "the BPF cost is reported"
}

json_run amped process amped-help-
json_run uring io-wq iou-wrk

# ---- amted, text with -i
V="[amted text] "
run amted -i 0.5
out=$(cat "$T/as.out")
like "$out" "[0-9][.][0-9]* s  round trips [0-9]* \(\+[0-9]*\), mean" "-i: interim lines" "$(head -c 2000 "$T/as.out")"
like "$out" "ampstat handoff  pid $RUN_PID .*\(signal\)" "the summary is printed"
n=$(sed -n 's/^round trips dispatcher -> helper -> dispatcher, woken both ways: //p' "$T/as.out")
ok "$([ "${n:-0}" -ge 1 ]; echo $?)" "round trips woken both ways: ${n:-0} >= 1" "$out"
like "$out" "  amped-help-[0-9]*/[0-9]* *thread " "a helper thread's row" "$out"
pct=$(sed -n 's/^phases sum to \([0-9.]*\)% of the round trips$/\1/p' "$T/as.out")
ok "$(num_le 99 "${pct:-0}" && num_le "${pct:-0}" 101; echo $?)" "phases sum to ${pct:-?}% of the round trips (99-101)" "$out"
# the "all" row: trips, mean, p50, p99 | queue, on CPU, blk-io, blk-oth, runq, back
row=$(sed -n 's/^  all  *\([0-9].*\)$/\1/p' "$T/as.out")
read -r _ _ _ _ _ q c io _ _ back <<<"$row"
ok "$(num_le 0.0005 "${q:-0}" && num_le 0.0005 "${c:-0}" && num_le 0.0005 "${io:-0}" && num_le 0.0005 "${back:-0}"; echo $?)" \
	"mean queue ${q:-?}, on CPU ${c:-?}, blocked-io ${io:-?}, back ${back:-?} ms all > 0" "$row"
V=''
done_testing
exit $((TAP_FAILED > 0))
