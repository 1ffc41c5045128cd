#!/bin/bash
# ampstat top's per-thread on-CPU and run-queue time against the kernel's
# own accounting, /proc/PID/task/TID/schedstat (field 1: ns on CPU, field 2:
# ns waiting on a run queue), in every interval, within 1 point of the
# interval's wall time, under wrk load on: amped --model amped, amped
# --model mt, and nginx with `aio threads` (its worker is preempted ~100,000
# times a second by its 32 pool threads: the case where stamping switches
# with the tracepoint's own clock was 3.3 points off, see bpf/sched.bpf.c),
# the last also through the raw_tp twins (AMPSTAT_FORCE_RAW_TP=1).
#
# Two readers, aligned: ampstat reads each live thread's schedstat itself,
# right after it snapshots its maps, and reports the differences per
# interval beside its own figures (top --threads --json: "schedstat"
# {oncpu_ns, runq_ns, runq_open_ns, skew_ns}, and the interval's
# "snapshot_ns": how long reading the maps took; per thread "skew_ns": how
# long after the snapshot its schedstat was read).  What still separates the two readings, and why the bound holds:
#   - the kernel adds a run-queue wait to field 2 only when the wait ends,
#     while ampstat counts it up to the snapshot: runq_open_ns is that open
#     part, taken out at the interval's end and put back at its start;
#   - field 1 of a running thread is brought up to date at every tick
#     (update_curr; HZ=250 here: at most 4 ms old), so each end of an
#     interval may differ by up to a tick: 2 x 4 ms = 0.4 points of a 2 s
#     interval at worst, deterministically (NO_HZ_FULL is off);
#   - a thread's schedstat is read skew_ns after the snapshot's instant,
#     and its map entry up to snapshot_ns before it (~0.1 ms each for 40
#     threads); a thread-interval with either more than 3 ms at either end
#     (ampstat preempted mid-read on a loaded machine) is not comparable
#     and is left out (at least 10 must remain): the rest keep 0.15 points
#     each end (a thread runs at most 3 ms in 3 ms).
# So a correct ampstat stays within 0.7 points at worst; the test allows 1
# point.  Measured here on a shared 2-core machine: within 0.2 points in
# every interval of the three servers (the worker of nginx: 3.3 points
# off before the fix).
# And, under the same load, what top costs: its BPF run time below 10% of
# the target's CPU time (issue 15's goal is 3%; bench-ampstat.sh measures).
# Root only; BPF mandatory under AMPED_REQUIRE_BPF=1 (else it skips).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
A=build/ampstat
AS_CMD=top
. tests/ampstat_lib.sh
[ -x $A ] || { echo "Bail out! $A missing (run make)"; exit 1; }
INTERVAL_S=2 COUNT=6 BOUND_PCT=1 MAX_SKEW_NS=3000000

if [ "$(id -u)" -ne 0 ]; then
	if [ "${AMPED_REQUIRE_BPF:-0}" = 1 ]; then ok 1 "BPF required but not root"; done_testing; exit 1; fi
	skip "ampstat against schedstat" "needs root"; done_testing; exit 0
fi
if ! command -v wrk >/dev/null; then
	ok 1 "wrk is installed (scripts/deps.sh)"
	done_testing; exit 1
fi
EXP_NAME=69-ampstat-exact
. scripts/lib-exp.sh
WORK=$T/work AS_PID=''
mkdir -p "$WORK" "$ROOT"
make_docroot "$ROOT"
head -c 1024 /dev/zero | tr '\0' x >"$ROOT/1k.txt"
cleanup() {
	stop_ampstat
	exp_cleanup
	lib_cleanup
}
trap cleanup EXIT

# compare NAME JSONL: the check of one run
compare() {
	"$PY" - "$2" "$BOUND_PCT" "$MAX_SKEW_NS" "$1" <<'PYEOF'
import json, sys
path, bound, max_skew, name = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
objs = [json.loads(l) for l in open(path) if l.strip()]
ivs = [o for o in objs if o.get("type") == "interval"]
prev = {}		# tid -> (runq_open_ns, usable) at the previous interval's end
compared = skipped = 0
worst = (0.0, "")
bad = []
for o in ivs:
    wall = o["interval_s"] * 1e9
    for t in o.get("threads", []):
        r, tid = t.get("schedstat"), t["tid"]
        if not r:
            prev.pop(tid, None)
            continue
        end_ok = o["snapshot_ns"] <= max_skew and r["skew_ns"] <= max_skew
        start = prev.get(tid)
        prev[tid] = (r["runq_open_ns"], end_ok)
        if start is None:
            continue
        if not (start[1] and end_ok):
            skipped += 1
            continue
        d_on = (t["oncpu_ns"] - r["oncpu_ns"]) / wall * 100
        d_rq = (t["runq_ns"] - r["runq_open_ns"] + start[0] - r["runq_ns"]) / wall * 100
        for what, d in (("on-CPU", d_on), ("run queue", d_rq)):
            if abs(d) > abs(worst[0]):
                worst = (d, "%s %s tid %d (%s)" % (what, t["role"], tid, t["comm"]))
            if abs(d) > bound:
                bad.append("%s %s tid %d, interval %.2f s: ampstat %.1f ms, schedstat %.1f ms: %+.2f points "
                           "(open run-queue wait at start %.1f ms, at end %.1f ms; on-CPU %.1f, steal %.1f, "
                           "ivcsw %d, vcsw %d, unwoken %d)"
                           % (what, t["role"], tid, wall / 1e9,
                              (t["oncpu_ns"] if what == "on-CPU" else t["runq_ns"]) / 1e6,
                              (r["oncpu_ns"] if what == "on-CPU" else r["runq_ns"]) / 1e6, d,
                              start[0] / 1e6, r["runq_open_ns"] / 1e6, t["oncpu_ns"] / 1e6,
                              t["steal_ns"] / 1e6, t["ivcsw"], t["vcsw"], t["unwoken"]))
        compared += 1
busy_pct = max((sum(t["oncpu_ns"] for t in o.get("threads", [])) / (o["interval_s"] * 1e7) for o in ivs), default=0)
print("%d %d %.3f %.0f" % (compared, skipped, worst[0], busy_pct))
print(worst[1])
for b in bad[:5]:
    print(b)
PYEOF
}

# run NAME PID URL [env]: ampstat top under wrk, then the check
run() {
	local name=$1 pid=$2 url=$3 res compared skipped nint worst where
	shift 3
	V="[$name] "
	timeout 60 wrk -t1 -c50 -d$((INTERVAL_S * COUNT + 4))s "$url" >"$T/wrk.out" 2>&1 &
	local wrk_pid=$!
	sleep 1
	# shellcheck disable=SC2086
	env "$@" timeout 60 $A top -p "$pid" -i $INTERVAL_S -n $COUNT --threads --json \
		>"$T/$name.jsonl" 2>"$T/$name.err"
	is "$?" 0 "ampstat top exits 0" "$(tail -3 "$T/$name.err")"
	wait "$wrk_pid"
	local rps
	rps=$(awk '/^Requests\/sec/ { printf "%d", $2 }' "$T/wrk.out")
	ok "$([ "${rps:-0}" -ge 1000 ]; echo $?)" "under load: wrk made ${rps:-0} requests/s" "$(cat "$T/wrk.out")"
	res=$(compare "$name" "$T/$name.jsonl")
	read -r compared skipped worst busy <<<"$(head -1 <<<"$res")"
	where=$(sed -n 2p <<<"$res")
	diag "its threads on CPU: up to ${busy:-0}% of one CPU in an interval"
	# what top cost: its programs' run time against the target's CPU time
	# (the summary's bpf object; sess.h).  Measured here on a shared 2-core
	# machine: 1-2% on amped, 3.5-5% on nginx with aio threads (9.5% before
	# the wakeup and filemap programs were dropped); 10% leaves room for
	# the switches of other programs, which count in ampstat's time.
	local cost
	cost=$(tail -n 1 "$T/$name.jsonl" | "$PY" -c '
import json, sys
b = json.load(sys.stdin)["bpf"]
print("%s %.4f" % (b["target_idle"], b["target_cpu_ratio"] or 0))' 2>/dev/null)
	# (the raw_tp twins, a fallback, read through probe helpers: 5-8% on
	# nginx here, reported only)
	if [ $# -eq 0 ]; then
		ok "$([ "${cost%% *}" = False ] && awk -v r="${cost#* }" 'BEGIN { exit !(r > 0 && r < 0.10) }'; echo $?)" \
			"top's BPF run time under load: below 10% of the target's CPU time (ratio ${cost#* })"
	else
		diag "top's BPF run time under load: ratio ${cost#* } of the target's CPU time"
	fi
	ok "$([ "${compared:-0}" -ge 10 ]; echo $?)" \
		"thread-intervals compared: ${compared:-0} (>= 10), left out for skew: ${skipped:-?}"
	ok "$([ "$(sed -n '3,$p' <<<"$res" | wc -l)" -eq 0 ]; echo $?)" \
		"on-CPU and run queue within $BOUND_PCT point of wall time of schedstat in every interval (worst ${worst:-?} points: $where)" \
		"$(sed -n '3,$p' <<<"$res")"
	V=''
}

for model in ${EXACT_MODELS:-amped mt}; do
	srv_start "$AMPED_BIN" "$model" || { ok 1 "amped --model $model starts"; continue; }
	run "amped $model" "$SRV_PID" "$SRV_URL/1k.txt"
	srv_stop TERM
done

if ! exp_install_peers 2>"$T/install.err"; then
	ok 1 "nginx is installed (scripts/deps.sh)" "$(tail -2 "$T/install.err")"
else
	PORT=$(exp_free_port)
	exp_start_nginx "$WORK" "$ROOT" "$PORT" "aio threads;"
	NPID=$EXP_LAST_PID
	if ! exp_wait_http "http://127.0.0.1:$PORT/1k.txt" 5000; then
		ok 1 "nginx starts" "$(cat "$WORK"/nginx*.log 2>/dev/null | tail -5)"
	else
		run "nginx aio threads" "$NPID" "http://127.0.0.1:$PORT/1k.txt"
		run "nginx aio threads, raw_tp" "$NPID" "http://127.0.0.1:$PORT/1k.txt" AMPSTAT_FORCE_RAW_TP=1
		like "$(cat "$T/nginx aio threads, raw_tp.err")" "raw_tp instead of tp_btf for sched_switch" \
			"the second nginx run went through the raw_tp twins"
		ivc=$("$PY" -c "
import json, sys
m = 0
for l in open(sys.argv[1]):
    o = json.loads(l)
    for t in o.get('threads', []) if o['type'] == 'interval' else []:
        if t['role'] == 'worker': m = max(m, t['ivcsw_per_s'])
print(int(m))" "$T/nginx aio threads.jsonl")
		ok "$([ "${ivc:-0}" -ge 1000 ]; echo $?)" "nginx's worker was preempted by its pool (${ivc} involuntary switches/s)"
	fi
fi
done_testing
exit $((TAP_FAILED > 0))
