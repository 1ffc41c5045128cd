#!/bin/bash
# ampstat's command line and life cycle: usage errors exit 2; no such
# process and not root exit 1 with a clear message; the target exiting ends
# it with a summary and exit 0; output piped is plain lines; pinned maps are
# removed on exit and stale ones (a killed ampstat) cleaned at the next
# start; bpf_stats (enabled through a BPF_ENABLE_STATS fd, which the kernel
# drops however ampstat exits) leaves kernel.bpf_stats_enabled as it was;
# --role names a row.  A killed ampstat leaves the server serving; two
# ampstats on one server both report (the second without pins); a process
# that is not a server is traced with one role.  Under wrk load on amped: per thread, time buckets sum
# to wall time within 1%, and the requests it counts are the requests wrk
# made (plus at most one in flight per connection).
# Every subcommand prints its cost line: a share of the target's CPU under
# load, "the target was idle" on an idle one.
# Root only for the BPF part; without BPF it skips, unless
# AMPED_REQUIRE_BPF=1 (then fails).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
[ -x build/ampstat ] || { echo "Bail out! build/ampstat missing (run make)"; exit 1; }
A=build/ampstat
AS_CMD=top
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top
AS_PID=''
cleanup() {
	if [ -n "$AS_PID" ] && kill -0 "$AS_PID" 2>/dev/null; then
		kill -KILL "$AS_PID" 2>/dev/null; wait "$AS_PID" 2>/dev/null
	fi
	lib_cleanup
}
trap cleanup EXIT

# ---- the command-line contract (ampstat_lib.sh), and top's own usage errors
for args in "" "top" "frobnicate"; do
	# shellcheck disable=SC2086
	timeout 10 $A $args >/dev/null 2>"$T/err"
	is "$?" 2 "usage error exits 2: ampstat $args"
done
as_cli_contract "-i 0" "-n 0" "--role noequals" "--role x=("

make_docroot "$ROOT"
stats0=$(cat /proc/sys/kernel/bpf_stats_enabled)

# as_start ARGS...: ampstat in the background; 0 once it says it traces.
last_json() { tail -n 1 "$T/as.out" | "$PY" -c "import json,sys; print(json.load(sys.stdin)$1)" 2>/dev/null; }

# ---- the target exits: summary, exit 0; pins removed; bpf_stats restored
srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
as_start -p "$SRV_PID" -i 0.2 --json || bpf_unavailable
ok 0 "ampstat attaches"
like "$(cat "$T/as.err")" "maps pinned in /sys/fs/bpf/amped/$SRV_PID" "maps pinned under /sys/fs/bpf/amped/PID"
ok "$([ -e "/sys/fs/bpf/amped/$SRV_PID/threads" ]; echo $?)" "pinned threads map exists"
for i in 1 2 3 4 5; do get /1k.txt >/dev/null; done
sleep 0.3
pid=$SRV_PID
srv_stop TERM
if wait_exit "$AS_PID" 10; then
	is "$RC" 0 "target exits: ampstat exits 0"
else
	ok 1 "target exits: ampstat exits within 10 s"
fi
AS_PID=''
is "$(last_json '["type"]')" summary "target exits: a summary is printed last"
is "$(last_json '["end"]')" "target exited" "summary says the target exited"
is "$(last_json '["requests"]')" 5 "summary counts the 5 requests"
rn=$(last_json '["bpf"]["run_ns"]')
ok "$([ "${rn:-0}" -gt 0 ]; echo $?)" "BPF run time measured (bpf_stats through BPF_ENABLE_STATS: $rn ns)"
ok "$([ ! -e "/sys/fs/bpf/amped/$pid" ]; echo $?)" "pins removed on exit"
is "$(cat /proc/sys/kernel/bpf_stats_enabled)" "$stats0" "bpf_stats restored"

# ---- a killed ampstat leaves stale pins; the next start removes them
srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
as_start -p "$SRV_PID" -i 0.5 || bpf_unavailable
kill -KILL "$AS_PID"; wait "$AS_PID" 2>/dev/null; AS_PID=''
ok "$([ -e "/sys/fs/bpf/amped/$SRV_PID/threads" ]; echo $?)" "SIGKILL leaves pins behind"
ok "$(kill -0 "$SRV_PID" 2>/dev/null; echo $?)" "SIGKILL of ampstat: the server lives on"
is "$(get /a.txt)" 200 "SIGKILL of ampstat: the server still serves"
is "$(cat /proc/sys/kernel/bpf_stats_enabled)" "$stats0" "bpf_stats restored after SIGKILL too"
as_start -p "$SRV_PID" -i 0.5 -n 1 || bpf_unavailable
like "$(cat "$T/as.err")" "maps pinned in" "next ampstat cleans the stale pins and pins its own"
wait_exit "$AS_PID" 10
is "$RC" 0 "-n 1: exits 0 after one report"
AS_PID=''
unlike "$(cat "$T/as.out")" $'\033' "piped output has no escape sequences"
like "$(cat "$T/as.out")" "^ampstat top  pid $SRV_PID" "piped output: plain report lines"
like "$(cat "$T/as.out")" "dispatcher +1 " "report has a dispatcher row with 1 thread"
like "$(cat "$T/as.out")" "helpers +[0-9]+ " "report has a helpers row"

# ---- --role: a named pattern is matched before the built-in roles
out=$(timeout 20 $A top -p "$SRV_PID" -n 1 -i 0.2 --no-pin --role 'front=^amped-disp$' 2>/dev/null)
like "$out" "front +1 " "--role front=^amped-disp\$: a 'front' row with 1 thread"
unlike "$out" "dispatcher" "--role: the dispatcher is counted as 'front' only"

# ---- under wrk load: buckets sum to wall per thread; requests counted
if command -v wrk >/dev/null; then
	as_start -p "$SRV_PID" -i 0.5 --json --threads || bpf_unavailable
	timeout 20 wrk -t1 -c20 -d2s "$SRV_URL/1k.txt" >"$T/wrk.out" 2>&1
	sleep 0.2
	kill -INT "$AS_PID"
	wait_exit "$AS_PID" 10
	is "$RC" 0 "SIGINT: exits 0"
	AS_PID=''
	nreq=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$T/wrk.out")
	res=$(tail -n 1 "$T/as.out" | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
bad = []
for t in s["threads"]:
    b = sum(t[k + "_ns"] for k in ("user", "kernel", "blocked_io", "wait_idle", "wait_other", "runq", "steal"))
    if abs(b - t["wall_ns"]) > 0.01 * t["wall_ns"]:
        bad.append("%s %d: %d vs %d" % (t["comm"], t["tid"], b, t["wall_ns"]))
d = [r for r in s["roles"] if r["role"] == "dispatcher"]
print(len(s["threads"]), s["requests"], d[0]["oncpu_ns"] if d else 0, "|".join(bad) or "none",
      "end=%s,intervals=%d,duration_s=%.3f" % (s["end"], s["intervals"], s["duration_s"]))')
	read -r nthr req disp_cpu bad how <<<"$res"
	ok "$([ "${nthr:-0}" -ge 2 ]; echo $?)" "wrk load: threads in the summary ($nthr)"
	is "$bad" none "wrk load: per thread, buckets sum to wall time within 1%"
	ok "$([ -n "$nreq" ] && [ "${req:-0}" -ge "$nreq" ] && [ "${req:-0}" -le $((nreq + 20)) ]; echo $?)" \
		"wrk load: requests counted ($req) = wrk's ($nreq) + at most 20 in flight" \
		"ampstat: $how; wrk: $(grep -E 'requests in|Socket|Non-2xx' "$T/wrk.out" | tr '\n' ' ')"
	ok "$([ "${disp_cpu:-0}" -gt 0 ]; echo $?)" "wrk load: the dispatcher was on CPU"
	# one JSON convention: every share or ratio a fraction of 1, no percent
	res=$("$PY" -c '
import json, sys
bad = []
def walk(o, path):
    if isinstance(o, dict):
        for k, v in o.items():
            if "pct" in k or "percent" in k:
                bad.append(path + k)
            if k in ("share", "target_cpu_ratio", "cache_hit_ratio", "cpu_ratio") and v is not None:
                vals = list(v.values()) if isinstance(v, dict) else [v]
                if any(x < 0 or (x > 1 and k != "cpu_ratio") for x in vals) or (k == "share" and abs(sum(vals) - 1) > 0.01):
                    bad.append("%s%s=%s" % (path, k, v))
            walk(v, path + k + ".")
    elif isinstance(o, list):
        for x in o:
            walk(x, path)
for l in open(sys.argv[1]):
    walk(json.loads(l), "")
print("|".join(bad[:5]) or "none")' "$T/as.out")
	is "$res" none "JSON: shares and ratios are fractions of 1 (shares sum to 1), no percentages"
	# the text table has one unit: a role's states add up to its THR
	timeout 20 wrk -t1 -c20 -d3s "$SRV_URL/1k.txt" >"$T/wrk.out" 2>&1 &
	wp=$!
	sleep 0.5
	timeout 20 $A top -p "$SRV_PID" -i 1 -n 1 --no-pin >"$T/text.out" 2>/dev/null
	wait "$wp"
	res=$(awk '
		/^ROLE/ { h = 1; next }
		h && $1 == "kernel" && $2 == "-" { k = 1; tot = $3; se = $NF
			line = $0; sub(/.*kernel threads /, "", line); split(line, w, " "); kt = w[1]
			if ((tot - kt - se) ^ 2 > 0.0002) bad = bad " kernel:" tot "!=" kt "+" se; next }
		h && NF >= 14 && $2 ~ /^[0-9]+$/ { n++
			s = $4 + $5 + $6 + $7 + $8 + $9 + $10
			if ((s - $2) ^ 2 > (0.02 + 0.01 * $2) ^ 2) bad = bad " " $1 ":" s "!=" $2
			if (($3 - $4 - $5) ^ 2 > 0.0002) bad = bad " " $1 ":oncpu" }
		END { print n + 0, k + 0, (bad == "" ? "none" : bad) }' "$T/text.out")
	read -r nrows krow bad <<<"$res"
	ok "$([ "${nrows:-0}" -ge 2 ] && [ "${krow:-0}" = 1 ]; echo $?)" "text: role rows ($nrows) and the kernel row" "$(cat "$T/text.out")"
	is "$bad" none "text: each role's states add up to its THR, ONCPU = USER + KERN, the kernel row's parts to its total" \
		"$(cat "$T/text.out")"
fi
srv_stop TERM

# ---- two ampstats on one server: both attach and report; the second
# finds the first one's pins and goes on without its own
srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
$A top -p "$SRV_PID" -i 1 -n 4 >"$T/two1.out" 2>"$T/two1.err" &
two1=$!
for i in $(seq 1 500); do grep -q 'tracing pid' "$T/two1.err" && break; sleep 0.02; done
$A top -p "$SRV_PID" -i 1 -n 1 >"$T/two2.out" 2>"$T/two2.err" &
two2=$!
for i in 1 2 3 4 5 6 7 8 9 10; do get /a.txt >/dev/null; done
wait_exit "$two2" 20; rc2=$RC
wait_exit "$two1" 20; rc1=$RC
is "$rc1/$rc2" 0/0 "two ampstats on one server: both exit 0"
like "$(cat "$T/two1.out")" "dispatcher +1 " "two ampstats: the first reports the dispatcher"
like "$(cat "$T/two2.out")" "dispatcher +1 " "two ampstats: the second reports the dispatcher"
like "$(cat "$T/two2.err")" "another ampstat traces this process" "two ampstats: the second says why it pins nothing"
ok "$([ ! -e "/sys/fs/bpf/amped/$SRV_PID" ]; echo $?)" "two ampstats: no pins left after both exit"
srv_stop TERM

# ---- every subcommand reports its cost (sess.h: sess_cost): its BPF run
# time as a share of the target's CPU time, or, when the target was idle,
# that it was (not a share of next to nothing, e.g. "290% of target CPU").
# All six at once on one server, idle, then under wrk.
COST_CMDS="top latency blocked syscalls cache offcpu"
# cost_runs TAG: each subcommand for 2 s, in parallel; output in $T/cost-TAG-CMD
cost_runs() {
	local c pids=()
	for c in $COST_CMDS; do
		extra=()
		[ "$c" = top ] && extra=(-i 60)
		timeout 30 $A "$c" -p "$SRV_PID" -d 2 "${extra[@]}" >"$T/cost-$1-$c" 2>&1 &
		pids+=($!)
	done
	for c in "${pids[@]}"; do wait "$c"; done
}
srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
cost_runs idle
for c in $COST_CMDS; do
	like "$(cat "$T/cost-idle-$c")" '^bpf: [0-9.]+ ms; the target was idle \([0-9]+ ms of CPU in [0-9.]+ s\): no share to give' \
		"$c on an idle target: its cost line says the target was idle" "$(tail -5 "$T/cost-idle-$c")"
done
if command -v wrk >/dev/null; then
	timeout 30 wrk -t1 -c20 -d6s "$SRV_URL/1k.txt" >"$T/wrk.out" 2>&1 &
	wp=$!
	sleep 0.5
	cost_runs busy
	wait "$wp"
	for c in $COST_CMDS; do
		like "$(cat "$T/cost-busy-$c")" '^bpf: [0-9.]+ ms = [0-9.]+% of target CPU \([0-9]+ ms\); runs, ns/run: [a-z_]+ [0-9]+' \
			"$c under load: its cost line gives a share of the target's CPU and its programs" "$(tail -5 "$T/cost-busy-$c")"
	done
fi
srv_stop TERM

# ---- not a server: a plain process is traced, with one role
sleep 30 &
plain=$!
timeout 20 $A top -p "$plain" -i 0.3 -n 1 >"$T/plain.out" 2>"$T/plain.err"
is "$?" 0 "a process that is not a server: exits 0"
like "$(cat "$T/plain.out")" "other +1 " "a process that is not a server: one role, one thread"
kill "$plain"; wait "$plain" 2>/dev/null
done_testing
exit $((TAP_FAILED > 0))
