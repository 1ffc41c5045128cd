#!/bin/bash
# ampstat latency: N requests made by real clients (curl one by one, then ab)
# are N in the histogram, exactly; the percentiles are ordered and plausible
# against the clients' own times (the server's latency of a request is part
# of the client's: it cannot be longer); the phases add up to the total.
# The MP model counts requests in its worker processes too.  Behind a slow
# disk (slowfs, 300 ms a read) the phases say where a cold request's time
# went: AMPED in helper service (the dispatcher idle meanwhile), SPED in the
# dispatcher itself, off CPU in D state.  Latency from arrival: SPED on
# cold data under ampload's open loop, ampstat's p99 near ampload's, with
# accept- and socket-queue phases.
# Also the command line: usage errors exit 2, not root / no such process
# exit 1, -d ends it (exit 0), SIGINT and the target's exit end it with the
# report and exit 0.
# Root only for the BPF part; without BPF it skips, unless
# AMPED_REQUIRE_BPF=1 (then fails).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
[ -x build/ampstat ] || { echo "Bail out! build/ampstat missing (run make)"; exit 1; }
A=build/ampstat
AS_CMD=latency
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top
AS_PID='' FS_PID=''
SRC=$T/src MNT=$T/mnt

# ---- the command-line contract (ampstat_lib.sh)
as_cli_contract "--sample 3" "--sample 0" "--sample autox" "--hit-rate 0" "--hit-rate x" "-i 1"

cleanup() {
	stop_ampstat
	if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
		kill -KILL "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null
	fi
	umount_fs
	rm -rf "$T"
}
trap cleanup EXIT

stop_as() { # SIGINT, expect exit 0
	kill -INT "$AS_PID"
	if wait_exit "$AS_PID" 10; then is "$RC" 0 "SIGINT: exits 0"; else ok 1 "SIGINT: exits within 10 s"; fi
	AS_PID=''
}
# j EXPR: a value of the JSON report
j() { "$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); print($1)" "$T/as.out" 2>/dev/null; }

make_docroot "$ROOT"

# ---- amped: N requests by curl and ab are N in the histogram
srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
as_start -p "$SRV_PID" --json --sample 1 || bpf_unavailable
ok 0 "ampstat latency attaches"
NC=40 NAB=400
: >"$T/curl.times"
for i in $(seq 1 $NC); do
	"${CURL[@]}" -o /dev/null -w '%{http_code} %{time_total}\n' "$SRV_URL/1k.txt" >>"$T/curl.times" 2>/dev/null
done
is "$(awk '$1 == 200' "$T/curl.times" | wc -l)" "$NC" "curl: $NC requests answered 200"
ab -q -n $NAB -c 4 "$SRV_URL/1k.txt" >"$T/ab.out" 2>&1
abn=$(sed -n 's/^Complete requests: *\([0-9]*\)/\1/p' "$T/ab.out")
abf=$(sed -n 's/^Failed requests: *\([0-9]*\)/\1/p' "$T/ab.out")
is "$abn/$abf" "$NAB/0" "ab: $NAB requests complete, none failed"
N=$((NC + NAB))
sleep 0.2
stop_as
is "$(j 's["requests"]')" "$N" "the histogram counts the $N requests exactly"
is "$(j 'sum(b["count"] for b in s["hist"])')" "$N" "its buckets sum to $N"
is "$(j 's["status"]["2xx"]')" "$N" "all $N counted as 2xx"
is "$(j 's["end"]')" "signal" "SIGINT: the report says so"
is "$(j 'int(s["latency_ns"]["p50"] <= s["latency_ns"]["p90"] <= s["latency_ns"]["p99"] <= s["latency_ns"]["max"] and s["latency_ns"]["p50"] > 0)')" 1 \
	"0 < p50 <= p90 <= p99 <= max ($(j 's["latency_ns"]'))"
# curl's own median: the server's part of a request cannot be longer (not
# so for the longest: the server may be preempted after its last write,
# before the probe, and the client has its answer by then)
cmed=$(awk '{ print $2 * 1e9 }' "$T/curl.times" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
smax=$(j 's["latency_ns"]["max"]')
smed=$(j 's["latency_ns"]["p50"]')
ok "$(num_le "$smed" "$cmed"; echo $?)" "server p50 ${smed} ns <= curl's median ${cmed} ns"
sumph=$(j 'sum(p["total_ns"] for p in s["phases"])')
tot=$(j 'int(s["latency_ns"]["mean"] * s["requests"])')
ok "$(awk -v a="$sumph" -v b="$tot" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= 0.01 * b + 1000 * 440) }'; echo $?)" \
	"phases sum to the total time (${sumph} vs ${tot} ns)"
rn=$(j 's["bpf"]["run_ns"]')
ok "$([ "${rn:-0}" -gt 0 ]; echo $?)" "BPF run time reported ($rn ns)"

# ---- --sample 4: 1 request in 4 fires the probe (amped tests its request
# id against the mask ampstat sets), and the mask is reset at the end
as_start -p "$SRV_PID" --json --sample 4 || bpf_unavailable
ab -q -n 400 -c 4 "$SRV_URL/1k.txt" >"$T/ab.out" 2>&1
sleep 0.2
stop_as
ns=$(j 's["hits"]')
ok "$([ "${ns:-0}" -ge 99 ] && [ "${ns:-0}" -le 101 ]; echo $?)" "--sample 4: 400 requests, ${ns} probe hits (100 +- 1)"
is "$(j 's["requests"]')" "$((ns * 4))" "--sample 4: each hit counts for 4 requests"
is "$(j 'sum(b["count"] for b in s["hist"])')" "$((ns * 4))" "--sample 4: so do the histogram's buckets"
is "$(j 's["sample"]')/$(j 's["sample_mode"]')" 4/fixed "--sample 4: the report says so"

# ---- --sample auto (the default): below --hit-rate every request fires;
# above it N rises so that the hits stay near the budget, and the counts
# still estimate all requests.  A budget of 50 hits/s against ab's
# thousands of requests a second forces N up.
as_start -p "$SRV_PID" --json --hit-rate 50 || bpf_unavailable
NAUTO=40000
ab -q -n $NAUTO -c 4 -k "$SRV_URL/1k.txt" >"$T/ab.out" 2>&1
abn=$(sed -n 's/^Complete requests: *\([0-9]*\)/\1/p' "$T/ab.out")
abf=$(sed -n 's/^Failed requests: *\([0-9]*\)/\1/p' "$T/ab.out")
abs=$(sed -n 's/^Time taken for tests: *\([0-9.]*\).*/\1/p' "$T/ab.out")
is "$abn/$abf" "$NAUTO/0" "auto: ab's $NAUTO requests complete, none failed (in ${abs} s)"
sleep 0.2
stop_as
is "$(j 's["sample_mode"]')" auto "auto: the default mode, reported"
na=$(j 's["requests"]') nh=$(j 's["hits"]') nmax=$(j 's["sample"]')
ok "$([ "${nmax:-0}" -ge 8 ]; echo $?)" "auto: N rose to ${nmax} (>= 8) at $(awk -v n=$NAUTO -v t="$abs" 'BEGIN { printf "%.0f", n / t }') req/s"
ok "$([ "${nh:-$NAUTO}" -le $((NAUTO / 2)) ]; echo $?)" "auto: ${nh} hits for $NAUTO requests"
# each change of N can shift the estimate by at most N requests (the hits
# fall on ids that are multiples of N); a handful of changes at N <= 4096
ok "$(awk -v a="$na" -v b="$NAUTO" -v m="$nmax" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.02 * b + 8 * m) }'; echo $?)" \
	"auto: the estimate ${na} is within 2% + 8 N of the $NAUTO requests"

# ---- -d: ends by itself; text report (every request again: mask reset)
as_start -p "$SRV_PID" -d 1 || bpf_unavailable
for i in 1 2 3; do get /a.txt >/dev/null; done
if wait_exit "$AS_PID" 10; then is "$RC" 0 "-d 1: exits 0 by itself"; else ok 1 "-d 1: exits within 10 s"; fi
AS_PID=''
like "$(cat "$T/as.out")" "^ampstat latency  pid $SRV_PID .*\(duration\)" "-d: the report says the duration ended it"
like "$(cat "$T/as.out")" "requests 3 " "-d: 3 requests"
like "$(cat "$T/as.out")" "waiting for request bytes" "text report: phases"
like "$(cat "$T/as.out")" "blocked-io" "text report: off-CPU categories"

# ---- the target exits: report, exit 0
as_start -p "$SRV_PID" --json || bpf_unavailable
get /a.txt >/dev/null
srv_stop TERM
if wait_exit "$AS_PID" 10; then is "$RC" 0 "target exits: exits 0"; else ok 1 "target exits: exits within 10 s"; fi
AS_PID=''
is "$(j 's["end"]')" "target exited" "target exits: the report says so"
is "$(j 's["requests"]')" 1 "target exits: its request counted"

# ---- MP: requests are served by worker processes
srv_start "$AMPED_BIN" mp --workers 3 || { ok 1 "mp server starts"; done_testing; exit 1; }
as_start -p "$SRV_PID" --json || bpf_unavailable
for i in $(seq 1 30); do get /1k.txt >/dev/null; done
sleep 0.2
stop_as
is "$(j 's["requests"]')" 30 "MP: the 30 requests served by worker processes are counted"
srv_stop TERM

# ---- cold data: where a cold request's time went
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null || [ ! -x build/slowfs ]; then
	skip "cold-file runs" "no FUSE or build/slowfs"
	done_testing; exit $((TAP_FAILED > 0))
fi
LAT_MS=300
mkdir -p "$SRC" "$MNT"
"$PY" -c 'import random,sys; open(sys.argv[1], "wb").write(random.Random(61).randbytes(65536))' "$SRC/cold.bin"
cold() {
	local model=$1 i
	V="[cold $model${AMPSTAT_FORCE_RAW_TP:+ raw_tp}] "
	mount_fs
	ROOT=$MNT
	if ! srv_start "$AMPED_BIN" "$model"; then ok 1 "server starts"; umount_fs; return; fi
	as_start -p "$SRV_PID" --json || bpf_unavailable
	is "$(get /cold.bin --max-time 30)" 200 "cold file served"
	stop_as
	local tot hs disp blk idle
	tot=$(j 's["latency_ns"]["max"]')
	hs=$(j '[p["total_ns"] for p in s["phases"] if p["phase"] == "helper_service"][0]')
	disp=$(j '[p["total_ns"] for p in s["phases"] if p["phase"] == "dispatcher"][0] + [p["total_ns"] for p in s["phases"] if p["phase"] == "sending"][0]')
	blk=$(j 's["offcpu"]["blocked_io_ns"]')
	idle=$(j 's["offcpu"]["idle_ns"]')
	lo=$((LAT_MS * 1000000 / 2))
	ok "$([ "${tot:-0}" -ge "$lo" ]; echo $?)" "the request took at least the disk's time (${tot} ns >= ${lo})"
	if [ "$model" = amped ]; then
		ok "$([ "${hs:-0}" -ge "$lo" ]; echo $?)" "AMPED: its time was helper service (${hs} ns >= ${lo})"
		ok "$([ "${idle:-0}" -ge "$lo" ]; echo $?)" "AMPED: the dispatcher was idle meanwhile (${idle} ns >= ${lo})"
		ok "$([ "${blk:-1}" -le "$((lo / 5))" ]; echo $?)" "AMPED: the dispatcher did not block (${blk} ns)"
	else
		ok "$([ "${disp:-0}" -ge "$lo" ]; echo $?)" "SPED: its time was the dispatcher's (${disp} ns >= ${lo})"
		ok "$([ "${blk:-0}" -ge "$lo" ]; echo $?)" "SPED: off CPU in D state (${blk} ns >= ${lo})"
	fi
	srv_stop TERM
	umount_fs
}
cold amped
cold sped

# the same through the raw_tp twin of sched_switch (AMPSTAT_FORCE_RAW_TP):
# SPED's stretch in D state must still reach its request
export AMPSTAT_FORCE_RAW_TP=1
cold sped
unset AMPSTAT_FORCE_RAW_TP
# ---- latency from arrival: SPED on cold data under an open loop (ampload,
# one connection per request).  While SPED's loop is blocked on the disk,
# requests wait in the accept queue; the server-side latency starts at the
# kernel's receive stamp, so its p99 must come near the client's, and the
# accept-queue and socket-queue phases are there.  The client's p99 it is
# held to is ampload's from each request's actual send (from_send): its p99
# from the intended send time also holds the generator's own lateness,
# which no server sees and which reached 135 ms at p99 on this 2-core
# machine under the other tests' load (from_send and ampstat then still
# agreed within 1%).  Bound 25%; fixed seeds.  ampload names each request
# (--req-id), and amped hands the ids to request_done.
V="[arrival sped] "
LAT_MS=8
build/ampload gen-fileset --dir "$SRC/set" --files 300 --seed 61 >/dev/null
mount_fs
ROOT=$MNT
if srv_start "$AMPED_BIN" sped; then
	as_start -p "$SRV_PID" --json --sample 1 || bpf_unavailable
	build/ampload -m open -r 120 -d 3 -w 0 --conn-per-request --fileset "$MNT/set/manifest.txt" --zipf 1 \
		--seed 61 --timeout 10000 --req-id --json "$T/al.json" -q "$SRV_URL/set/" >"$T/al.out" 2>&1
	is "$?" 0 "ampload runs against SPED on cold data"
	sleep 0.2
	stop_as
	cp99=$("$PY" -c 'import json,sys; l=json.load(open(sys.argv[1])); print(int(l["from_send"]["p99_ms"] * 1e6))' "$T/al.json" 2>/dev/null)
	ip99=$("$PY" -c 'import json,sys; l=json.load(open(sys.argv[1])); print(int(l["latency"]["p99_ms"] * 1e6))' "$T/al.json" 2>/dev/null)
	lp99=$("$PY" -c 'import json,sys; l=json.load(open(sys.argv[1])); print(int(l["lateness"]["p99_ms"] * 1e6))' "$T/al.json" 2>/dev/null)
	cerr=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors_total"])' "$T/al.json" 2>/dev/null)
	creq=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$T/al.json" 2>/dev/null)
	is "${cerr:-x}" 0 "ampload: no errors"
	sp99=$(j 'int(s["latency_ns"]["p99"])')
	rp99=$(j 'int(s["served_ns"]["p99"])')
	diag "requests: ampload ${creq}, ampstat $(j 's["requests"]'); p99: ampload ${ip99} ns from the intended send" \
		"(its lateness p99 ${lp99} ns), ${cp99} ns from the send; ampstat ${sp99} ns from arrival, ${rp99} ns from the read"
	is "$(j 's["requests"]')" "$creq" "ampstat counts ampload's $creq requests"
	is "$(j 's["client_ids"]')" "$creq" "ampload --req-id: amped passed each request's X-Amped-Req id on"
	ok "$(awk -v s="${sp99:-0}" -v c="${cp99:-0}" 'BEGIN { d = s - c; if (d < 0) d = -d; exit !(c > 0 && d <= 0.25 * c) }'; echo $?)" \
		"p99 from arrival (${sp99} ns) within 25% of ampload's from the send (${cp99} ns)"
	is "$(j 'int(s["arrived"] >= 0.95 * s["requests"] and s["requests"] > 0)')" 1 \
		"the kernel stamped the arrival of $(j 's["arrived"]') of $(j 's["requests"]') requests"
	aq=$(j '[p["total_ns"] for p in s["phases"] if p["phase"] == "accept_queue"][0]')
	sq=$(j '[p["total_ns"] for p in s["phases"] if p["phase"] == "socket_queue"][0]')
	ok "$([ "${aq:-0}" -gt 0 ] && [ "${sq:-0}" -gt 0 ]; echo $?)" "accept-queue (${aq} ns) and socket-queue (${sq} ns) phases are there"
	is "$(j 'int(all(p["p99_ns"] <= s["latency_ns"]["max"] for p in s["phases"]))')" 1 "no phase's p99 exceeds the longest request"
	srv_stop TERM
else
	ok 1 "server starts"
fi
umount_fs
V=''
done_testing
exit $((TAP_FAILED > 0))
