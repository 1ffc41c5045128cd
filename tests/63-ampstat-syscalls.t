#!/bin/bash
# ampstat syscalls: usage errors exit 2; not root and no such process exit
# 1; a test program doing exactly N read(2)s and M pread(2)s in a thread of
# its own (build/tests/ampstat_io) is counted exactly N and M; SIGINT and
# the target's exit end it with a summary and exit 0; it reports its BPF
# cost; and under wrk load on amped its counts agree with libbpf-tools'
# syscount -p (run over the same window: both attach before the load and
# stop after it, while the idle server makes almost no calls) within 2%;
# and in the MP model the pre-forked workers' calls are counted.  A --role
# selector (thread:exe:) holds for threads that exited before the report,
# in a process that exited too.
# Root only for the BPF part; without BPF it skips, unless
# AMPED_REQUIRE_BPF=1 (then fails).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
A=build/ampstat
AS_CMD=syscalls
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top
IO=build/tests/ampstat_io
for b in $A $IO; do [ -x $b ] || { echo "Bail out! $b missing (run make)"; exit 1; }; done
AS_PID='' SC_PID='' IO_PID='' TRACEFS_MOUNTED=''
cleanup() {
	for p in $AS_PID $SC_PID $IO_PID; do
		if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; fi
	done
	[ -n "$TRACEFS_MOUNTED" ] && umount /sys/kernel/tracing 2>/dev/null
	lib_cleanup
}
trap cleanup EXIT

# ---- the command-line contract (ampstat_lib.sh)
as_cli_contract "-T -1" "--role x=("

# as_start ARGS...: ampstat syscalls in the background; 0 once it traces.
# js EXPR: evaluate EXPR on the JSON summary s (the last line of as.out)
js() { tail -n 1 "$T/as.out" | "$PY" -c "
import json, sys
s = json.load(sys.stdin)
def sc(role, name):
    for r in s['roles']:
        if r['role'] == role:
            for c in r['syscalls']:
                if c['name'] == name:
                    return c
    return {'count': 0, 'timed': 0, 'hist': [0]}
print($1)" 2>/dev/null; }
# io CMD: one command to ampstat_io, its answer echoed
io() { echo "$1" >&"${IOP[1]}"; local l; read -r -t 30 l <&"${IOP[0]}"; echo "$l"; }

# ---- exactly N reads and M preads, in the thread am-io; again through
# the raw_tp twins (AMPSTAT_FORCE_RAW_TP=1)
N=12345 M=777
coproc IOP { exec $IO; }
IO_PID=$!
read -r -t 10 ready <&"${IOP[0]}"
like "$ready" "^ready [0-9]+$" "ampstat_io starts"
# exact SUFFIX: the counts; SUFFIX is that of the programs that must run
exact() {
	as_start -p "$IO_PID" --json --role 'io=^am-io$' || bpf_unavailable
	ok 0 "ampstat syscalls attaches"
	is "$(io "reads $N")" "ok $N" "ampstat_io did $N reads"
	is "$(io "preads $M")" "ok $M" "ampstat_io did $M preads"
	kill -INT "$AS_PID"
	if wait_exit "$AS_PID" 10; then is "$RC" 0 "SIGINT: exits 0"; else ok 1 "SIGINT: exits within 10 s"; fi
	AS_PID=''
	is "$(js "s['type'] + ' ' + s['end']")" "summary signal" "SIGINT: a summary, end=signal"
	is "$(js "sc('io', 'read')['count']")" "$N" "read count of the io thread is exactly $N"
	is "$(js "sc('io', 'pread64')['count']")" "$M" "pread64 count of the io thread is exactly $M"
	is "$(js "sc('io', 'read')['timed'] == $N and sum(sc('io', 'read')['hist']) == $N")" True \
		"all $N reads timed, and the histogram holds them all"
	res=$(js "sc('io', 'read')['total_ns'] > 0 and sc('io', 'read')['p50_ns'] > 0")
	is "$res" True "read latency measured (total and p50 > 0)"
	res=$(js "s['bpf']['run_ns'] > 0 and any(p['name'] == 'am_sys_exit$1' and p['runs'] >= $N for p in s['bpf']['progs'])")
	is "$res" True "reports its own BPF cost (run_ns, runs of am_sys_exit$1 >= $N)"
}
exact ''
AMPSTAT_FORCE_RAW_TP=1 V="[raw_tp] " exact _raw
like "$(cat "$T/as.err")" "raw_tp instead of tp_btf for .*sys_enter, sys_exit" "[raw_tp] it says it uses raw_tp"

# ---- the target exits: summary, exit 0; the text report.  The role is
# a selector (a thread, not the main one, of a process running
# ampstat_io): its threads and then the process exit before the report,
# and the threads keep the role ampstat saw them in while they ran (a 2 s
# thread spans a scan of /proc)
as_start -p "$IO_PID" --role 'io=thread:exe:^ampstat_io$' || bpf_unavailable
is "$(io "sleeps 100")" "ok 100" "ampstat_io did 100 sleeps"
is "$(io "reads 1000")" "ok 1000" "ampstat_io did 1000 reads"
exec {IOP[1]}>&-
if wait_exit "$AS_PID" 10; then is "$RC" 0 "target exits: exits 0"; else ok 1 "target exits: exits within 10 s"; fi
AS_PID=''
wait "$IO_PID" 2>/dev/null; IO_PID=''
out=$(cat "$T/as.out")
like "$out" "^ampstat syscalls  pid [0-9]+ \(am-main\)  [0-9.]+ s \(target exited\)" "target exits: summary says so"
like "$out" $'\n''io +read +1000 ' "text report: io read 1000 (role by selector, thread exited)"
like "$out" $'\n''io +(clock_)?nanosleep +100 ' "text report: io nanosleep 100 (role by selector, thread exited)"
like "$out" $'\n''bpf: [0-9.]+ ms' "text report: BPF cost line"

# ---- under wrk load: agreement with libbpf-tools syscount -p
if ! command -v wrk >/dev/null; then
	skip "syscount agreement" "wrk missing"
elif ! [ -x /usr/sbin/syscount ]; then
	skip "syscount agreement" "libbpf-tools missing (scripts/deps.sh installs it)"
else
	# syscount attaches classic tracepoints (raw_syscalls), which need tracefs
	if ! [ -e /sys/kernel/tracing/events/raw_syscalls ]; then
		mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null && TRACEFS_MOUNTED=1
	fi
	make_docroot "$ROOT"
	srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
	# syscount -p counts that process only: so does --no-follow
	as_start -p "$SRV_PID" --json --no-follow || bpf_unavailable
	# line-buffered: its "Tracing" line tells that it has attached
	stdbuf -oL /usr/sbin/syscount -p "$SRV_PID" -T 1000 >"$T/sc.out" 2>"$T/sc.err" &
	SC_PID=$!
	for i in $(seq 1 500); do
		grep -q 'Tracing syscalls' "$T/sc.out" && break
		kill -0 "$SC_PID" 2>/dev/null || break
		sleep 0.02
	done
	if ! grep -q 'Tracing syscalls' "$T/sc.out"; then
		ok 1 "syscount attaches" "$(cat "$T/sc.out" "$T/sc.err" | head -5)"
	else
		sleep 0.2
		timeout 20 wrk -t1 -c20 -d2s "$SRV_URL/1k.txt" >"$T/wrk.out" 2>&1
		sleep 0.3
		kill -INT "$AS_PID" "$SC_PID"
		wait_exit "$AS_PID" 10; is "$RC" 0 "ampstat exits 0"
		wait_exit "$SC_PID" 10; SC_PID=''
		AS_PID=''
		sct=$(awk 'f && NF == 2 && $2 ~ /^[0-9]+$/ { s += $2 } /^SYSCALL/ { f = 1 } END { print s + 0 }' "$T/sc.out")
		ast=$(js "s['calls']")
		diag "syscount: $sct calls, ampstat: $ast calls; ampstat BPF cost: $(js "'%.1f ms = %.1f%% of target CPU' % (s['bpf']['run_ns'] / 1e6, 100 * (s['bpf']['target_cpu_ratio'] or 0))")"
		ok "$([ "${sct:-0}" -gt 2000 ]; echo $?)" "syscount saw the load ($sct calls)" "$(head -20 "$T/sc.out")"
		ok "$("$PY" -c "import sys; a, s = int('${ast:-0}'), int('${sct:-0}'); sys.exit(0 if s and abs(a - s) <= 0.02 * s else 1)"; echo $?)" \
			"totals agree with syscount within 2% (ampstat $ast, syscount $sct)"
		# the rows too: read and epoll_wait
		for name in read epoll_wait; do
			scn=$(awk -v n=$name '$1 == n { print $2 }' "$T/sc.out")
			asn=$(js "sc('dispatcher', '$name')['count']")
			ok "$("$PY" -c "import sys; a, s = int('${asn:-0}'), int('${scn:-0}'); sys.exit(0 if s and abs(a - s) <= 0.02 * s + 5 else 1)"; echo $?)" \
				"$name: agrees with syscount (ampstat $asn, syscount $scn)"
		done
	fi
	srv_stop TERM
fi
# ---- MP: the pre-forked worker processes are traced too (role workers)
[ -d "$ROOT" ] || make_docroot "$ROOT"
srv_start "$AMPED_BIN" mp || { ok 1 "mp server starts"; done_testing; exit 1; }
as_start -p "$SRV_PID" --json || bpf_unavailable
for i in $(seq 1 20); do get /1k.txt >/dev/null; done
kill -INT "$AS_PID"
wait_exit "$AS_PID" 10; is "$RC" 0 "mp: exits 0"
AS_PID=''
res=$(js "sum(c['count'] for r in s['roles'] if r['role'] == 'workers' for c in r['syscalls'] if c['name'] in ('sendmsg', 'sendfile', 'writev', 'write'))")
ok "$([ "${res:-0}" -ge 20 ]; echo $?)" "mp: the workers' sends are counted (>= 20 for 20 requests: $res)" \
	"$(tail -n 1 "$T/as.out" | head -c 600)"
srv_stop TERM
done_testing
exit $((TAP_FAILED > 0))
