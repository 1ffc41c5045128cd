#!/bin/bash
# ampstat blocked: the lesson of Flash seen from the dispatcher.  Behind a
# slow disk (slowfs, one arm, 300 ms per read) a SPED server's dispatcher
# blocks in D state reading the cold file, and ampstat blocked shows that
# event with the request (method and path) it was serving, the syscall and
# the stacks; an AMPED server's dispatcher does not block at all, its
# helpers do (their D-state time is in the summary).  Bounds are half of
# the modelled disk time (blocked) and a tenth (not blocked), never speeds.
# --json gives the same facts as JSON Lines (checked with python's json),
# with the maps pinned under /sys/fs/bpf/amped/PID/blocked while it runs
# (bpftool dumps one); and again through the raw_tp twin of its program
# (AMPSTAT_FORCE_RAW_TP=1).  Also the command line: usage errors exit 2, not root / no such process
# exit 1 with a message, SIGINT and the target's exit end it with a summary
# and exit 0.
# Verdict and collateral: SPED on the cold files under a closed loop of
# ampload users (COLL_USERS): the stalls' dominant verdict is disk, the
# requests counted behind them are at least one and at most what ampload
# sent, no stall has more waiting than there are users, and the latency
# added is at least half a modelled read and at most users x stalled time.
# Root only for the BPF part; without BPF it skips, unless
# AMPED_REQUIRE_BPF=1 (then fails).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
[ -x build/ampstat ] || { echo "Bail out! build/ampstat missing (run make)"; exit 1; }
A=build/ampstat
AS_CMD=blocked
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top

SRC=$T/src MNT=$T/mnt
FS_PID='' AS_PID=''
LAT_MS=300 NFILES=2

# ---- the command-line contract (ampstat_lib.sh)
as_cli_contract "--min-us -1" "-i 1"

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null || [ ! -x build/slowfs ]; then
	skip "cold-file runs" "no FUSE or build/slowfs"
	done_testing; exit $((TAP_FAILED > 0))
fi

mkdir -p "$SRC" "$MNT"
cold_files "$NFILES" 62

cleanup() {
	stop_ampstat
	if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
		kill -KILL "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null
	fi
	umount_fs
	rm -rf "$T"
}
trap cleanup EXIT

# as_start ARGS...: ampstat blocked in the background; 0 once it traces.
bpf_unavailable() {
	stop_ampstat
	if [ "${AMPED_REQUIRE_BPF:-0}" = 1 ]; then
		ok 1 "ampstat attaches (AMPED_REQUIRE_BPF=1)" "$(cat "$T/as.err")"
	else
		skip "ampstat attaches" "BPF unavailable: $(head -c 200 "$T/as.err")"
	fi
}
# events_d PATH: number of D-state event blocks whose request is GET PATH
events_d() {
	awk -v p="$1" '
		/ off CPU .* D \(blocked-io\) / { d = 1; next }
		/^  request: / { if (d && $2 == "GET" && $3 == p) n++; d = 0; next }
		END { print n + 0 }' "$T/as.out"
}
# summary_ms WHAT: the ms figure of a summary line
summary_d_ms() { sed -n 's/^  by state:  D [0-9]* (\([0-9.]*\) ms).*/\1/p' "$T/as.out"; }
others_ms() { sed -n 's/^other threads .* [0-9]* times, \([0-9.]*\) ms$/\1/p' "$T/as.out"; }

# start_cold MODEL ARGS...: slowfs, the server, ampstat blocked ARGS; 1
# (after a test line and the clean-up) when one of them fails
start_cold() {
	local model=$1
	shift
	if ! mount_fs; then ok 1 "slowfs mounts"; umount_fs; return 1; fi
	ROOT=$MNT
	if ! srv_start "$AMPED_BIN" "$model"; then ok 1 "server starts"; umount_fs; return 1; fi
	if ! as_start -p "$SRV_PID" "$@"; then
		bpf_unavailable
		srv_stop TERM; umount_fs; return 1
	fi
}
# cold_sigint: GET every cold file, then SIGINT ends ampstat with exit 0
cold_sigint() {
	local i code=''
	for i in $(seq 0 $((NFILES - 1))); do
		code="$code$(get "/cold$i.bin" --max-time 30)"
	done
	is "$code" "$(printf '200%.0s' $(seq 1 $NFILES))" "$NFILES cold files served"
	kill -INT "$AS_PID"
	if wait_exit "$AS_PID" 10; then is "$RC" 0 "SIGINT: exits 0"; else ok 1 "SIGINT: exits within 10 s"; fi
	AS_PID=''
}

run() {
	local model=$1 i lo hi d_ms o_ms
	V="[$model] "
	start_cold "$model" --min-us 1000 || return
	ok 0 "ampstat blocked attaches"
	cold_sigint
	like "$(cat "$T/as.out")" "^ampstat blocked  pid $SRV_PID .*\(signal\)" "SIGINT: the summary is printed"
	lo=$((LAT_MS / 2))
	hi=$((NFILES * LAT_MS / 10))
	d_ms=$(summary_d_ms)
	o_ms=$(others_ms)
	if [ "$model" = sped ]; then
		for i in $(seq 0 $((NFILES - 1))); do
			n=$(events_d "/cold$i.bin")
			ok "$([ "$n" -ge 1 ]; echo $?)" "SPED: the dispatcher blocked in D state serving GET /cold$i.bin ($n events)" \
				"$(head -c 3000 "$T/as.out")"
		done
		ok "$(num_le "$((NFILES * lo))" "${d_ms:-0}"; echo $?)" \
			"SPED: the dispatcher's D-state time ${d_ms} ms >= $((NFILES * lo)) ms"
		like "$(cat "$T/as.out")" "syscall pread64" "SPED: the syscall it blocked in is named (pread64)"
		like "$(cat "$T/as.out")" "    (filemap_|folio_wait|io_schedule|fuse_)" "SPED: the kernel stack is symbolized"
		n=$(sed -n '/user stack:/{n;p}' "$T/as.out" | grep -c 'pread')
		ok "$([ "$n" -ge 1 ]; echo $?)" "SPED: a user stack's innermost frame is symbolized (pread: $n)"
		like "$(cat "$T/as.out")" "by request:.*" "SPED: the summary lists requests"
		like "$(sed -n '/by request:/,/other threads/p' "$T/as.out")" "GET /cold0.bin" "SPED: the cold file is in the summary"
	else
		d_ms=${d_ms:-0}
		ok "$(num_le "$d_ms" "$hi"; echo $?)" "AMPED: the dispatcher does not block in D state (${d_ms} ms <= ${hi} ms)" \
			"$(head -c 3000 "$T/as.out")"
		is "$(events_d /cold0.bin)$(events_d /cold1.bin)" "00" "AMPED: no D-state event of the dispatcher for the cold files"
		ok "$(num_le "$((NFILES * lo))" "${o_ms:-0}"; echo $?)" \
			"AMPED: the helpers are in blocked-io instead (${o_ms} ms >= $((NFILES * lo)) ms)"
	fi
	# the target exits: summary, exit 0
	if as_start -p "$SRV_PID" --no-stacks; then
		srv_stop TERM
		if wait_exit "$AS_PID" 10; then is "$RC" 0 "target exits: exits 0"; else ok 1 "target exits: exits within 10 s"; fi
		AS_PID=''
		like "$(tail -n 25 "$T/as.out")" "\(target exited\)" "target exits: a summary says so"
	else
		bpf_unavailable
		srv_stop TERM
	fi
	umount_fs
}

# json_facts: the facts of a --json run, one per line (JSON Lines parsed
# with python's json: a line that does not parse fails them all)
json_facts() {
	"$PY" - "$T/as.out" "$NFILES" "$SRV_PID" <<'PYEOF'
import json, re, sys
try:
    objs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
except ValueError as e:
    print("parse error: %s" % e)
    sys.exit(0)
n, pid = int(sys.argv[2]), int(sys.argv[3])
ev = [o for o in objs if o.get("type") == "event"]
sm = objs[-1] if objs else {}
print("summary_last=%s end=%s" % (sm.get("type"), sm.get("end")))
d = [e for e in ev if e["state"] == "D" and e["role"] == "dispatcher"]
for i in range(n):
    k = sum(1 for e in d if e["request"] and e["request"]["method"] == "GET"
            and e["request"]["path"] == "/cold%d.bin" % i)
    print("cold%d=%s" % (i, "yes" if k else "no"))
print("pread=%s" % ("yes" if any(e["syscall"] == "pread64" for e in d) else "no"))
print("tid=%s" % ("yes" if d and all(e["tid"] == pid and e["tgid"] == pid for e in d) else "no"))
print("kstack=%s" % ("yes" if any(re.match(r"(filemap_|folio_wait|io_schedule|fuse_)", f)
                                 for e in d for f in e.get("kernel_stack") or []) else "no"))
print("ustack=%s" % ("yes" if any("pread" in (e.get("user_stack") or [""])[0] for e in d) else "no"))
print("d_ms=%d" % (sm.get("by_state", {}).get("D", {}).get("ns", 0) // 1000000))
print("tracepoint=%s" % sm.get("tracepoint"))
PYEOF
}

# run_json TRACEPOINT: SPED and cold files again, in --json; the maps are
# pinned while it runs (bpftool reads them) and gone after
run_json() {
	local tp=$1 i f pin
	V="[sped json $tp] "
	start_cold sped --min-us 1000 --json || return
	pin=/sys/fs/bpf/amped/$SRV_PID/blocked
	like "$(cat "$T/as.err")" "maps pinned in $pin" "maps pinned in $pin"
	timeout 10 bpftool map dump pinned "$pin/others_out" >"$T/dump.out" 2>&1
	is "$?" 0 "bpftool map dump pinned $pin/others_out works" "$(head -5 "$T/dump.out")"
	cold_sigint
	ok "$([ ! -e "$pin" ] && [ ! -e "/sys/fs/bpf/amped/$SRV_PID" ]; echo $?)" "pins removed on exit"
	json_facts >"$T/facts"
	f=$(cat "$T/facts")
	like "$f" "summary_last=summary end=signal" "the last line is the summary (end: signal)" "$f"
	for i in $(seq 0 $((NFILES - 1))); do
		like "$f" "cold$i=yes" "an event: the dispatcher in D state serving GET /cold$i.bin" \
			"$(head -c 3000 "$T/as.out")"
	done
	like "$f" "pread=yes" "the syscall it blocked in is named (pread64)"
	like "$f" "tid=yes" "tid and tgid are the server's (SPED: the main thread)"
	like "$f" "kstack=yes" "the kernel stack is a list of symbolized frames"
	like "$f" "ustack=yes" "the user stack's innermost frame is pread"
	d_ms=$(sed -n 's/^d_ms=//p' "$T/facts")
	ok "$(num_le "$((NFILES * LAT_MS / 2))" "${d_ms:-0}"; echo $?)" \
		"the summary's D-state time ${d_ms} ms >= $((NFILES * LAT_MS / 2)) ms"
	like "$f" "tracepoint=$tp" "the summary names the tracepoint flavour ($tp)"
	srv_stop TERM
	umount_fs
}

# run_collateral: SPED, the cold files under ampload's closed loop, blocked
# --json; verdicts and collateral against ampload's own counts
COLL_USERS=6
run_collateral() {
	local f i
	V="[sped collateral] "
	[ -x build/ampload ] || { skip "collateral" "no build/ampload"; return; }
	{
		echo "# ampload fileset: $NFILES files; \"path size_bytes\""
		for i in $(seq 0 $((NFILES - 1))); do echo "cold$i.bin 65536"; done
	} >"$T/manifest"
	start_cold sped --min-us 1000 --no-stacks --json || return
	timeout 30 build/ampload -m closed -c $COLL_USERS -d 2 -w 0 --fileset "$T/manifest" -q \
		--json "$T/load.json" "$SRV_URL/" >"$T/load.out" 2>&1
	is "$?" 0 "ampload ran" "$(tail -5 "$T/load.out")"
	kill -INT "$AS_PID"
	if wait_exit "$AS_PID" 10; then is "$RC" 0 "SIGINT: exits 0"; else ok 1 "SIGINT: exits within 10 s"; fi
	AS_PID=''
	"$PY" - "$T/as.out" "$T/load.json" "$COLL_USERS" >"$T/facts" <<'PYEOF'
import json, sys
try:
    objs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    load = json.load(open(sys.argv[2]))
except (ValueError, OSError) as e:
    print("parse error: %s" % e)
    sys.exit(0)
users = int(sys.argv[3])
ev = [o for o in objs if o.get("type") == "event"]
sm = objs[-1]
bv = sm["by_verdict"]
print("dominant=%s" % max(bv, key=lambda k: bv[k]["ns"]))
print("disk_events=%s" % ("yes" if any(e["verdict"] == "disk" and e["state"] == "D" for e in ev) else "no"))
print("sent=%d" % load["sent"])
print("waited=%d" % sm["collateral"]["waited"])
print("counted=%d" % sm["collateral"]["stalls_counted"])
print("max_waiting=%d" % max([e["collateral"]["waiting"] for e in ev if e["collateral"]] or [0]))
print("added_ms=%d" % (sm["collateral"]["added_ns"] // 1000000))
print("bound_ms=%d" % (users * sm["off_cpu_ns"] // 1000000 + 1))
print("headline=%s" % sm["headline"])
PYEOF
	f=$(cat "$T/facts")
	like "$f" "dominant=disk" "the dominant verdict is disk" "$f"
	like "$f" "disk_events=yes" "events of the dispatcher in D state carry verdict disk"
	like "$f" "headline=stalled [0-9.]* s in [0-9,]* stalls; [0-9,]* requests waited behind them, [0-9.]* s added; [0-9]*% disk in pread64 on [0-9]* file" \
		"the headline names the stalls, their collateral and the main cause" "$f"
	local sent waited maxw added bound
	sent=$(sed -n 's/^sent=//p' "$T/facts") waited=$(sed -n 's/^waited=//p' "$T/facts")
	maxw=$(sed -n 's/^max_waiting=//p' "$T/facts") added=$(sed -n 's/^added_ms=//p' "$T/facts")
	bound=$(sed -n 's/^bound_ms=//p' "$T/facts")
	ok "$([ "${waited:-0}" -ge 1 ] && [ "${waited:-0}" -le "${sent:-0}" ]; echo $?)" \
		"requests that waited behind stalls: 1 <= ${waited} <= ${sent} sent by ampload" "$f"
	ok "$([ "${maxw:-99}" -le $COLL_USERS ]; echo $?)" "no stall has more waiting (${maxw}) than users ($COLL_USERS)"
	ok "$([ "${added:-0}" -ge $((LAT_MS / 2)) ] && [ "${added:-0}" -le "${bound:-0}" ]; echo $?)" \
		"latency added ${added} ms: >= $((LAT_MS / 2)) ms (half a modelled read), <= ${bound} ms (users x stalled)" "$f"
	srv_stop TERM
	umount_fs
}

run sped
run amped
run_collateral
run_json tp_btf
AMPSTAT_FORCE_RAW_TP=1 run_json raw_tp
V=''
done_testing
exit $((TAP_FAILED > 0))
