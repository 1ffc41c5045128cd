#!/bin/bash
# ampstat top: system calls per role (--syscalls), page-cache hit ratio per
# role (--cache; without it the figures are null and no filemap program is
# loaded), and the kernel row.
#   - syscalls: a process that does exactly N read(2)s in a thread it
#     creates for the command (build/tests/ampstat_io), traced from before
#     the command: its total (all rows; a thread created after attach counts
#     with its creator, am-main) is at least N and at most N + 50.  Besides
#     the N reads the command costs the main thread its answer's write and
#     its next read of stdin, and the new thread its start and exit (clone3,
#     rseq, set_robust_list, prctl, madvise, exit, a futex): 12 calls
#     measured here; 50 leaves room for glibc mapping a fresh stack, and
#     nothing else runs in the process.  Without --syscalls the counts are
#     null.
#   - cache: a file of N pages read whole right after fdatasync +
#     posix_fadvise(DONTNEED) (mincore says 0 pages resident): the reading
#     role has N misses within 2% and a hit ratio of at most 0.02; read
#     again (wholly resident before and after), at most 2% misses: ratio at
#     least 0.98.  The same bounds as `ampstat cache` (tests/64): readahead
#     and the read past the end can add a page or two; a run in which
#     another program evicted pages meanwhile (mincore after) is repeated.
#   - the kernel row, machine-wide: present in the JSON with every field
#     non-negative; under wrk on amped over loopback its softirq time is
#     more than 0 (loopback delivers every segment in NET_RX softirq: tens
#     of thousands in 2 s, of which the 2 x 1999 samples/s must catch some);
#     writing with O_DIRECT to a loop device gives block/loop time > 0 (each
#     request goes through the device's "loopN" workqueue); and the per
#     thread buckets still sum to wall time (1%).
#   - the cache and kernel-row checks again through the raw_tp twins of
#     sched.bpf.c's programs (AMPSTAT_FORCE_RAW_TP=1), all of them: the
#     twins account as the tp_btf programs do.  Not --syscalls, whose
#     counting is perf events, not these programs.
# Root only; without BPF it skips, unless AMPED_REQUIRE_BPF=1 (then fails).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
A=build/ampstat
AS_CMD=top
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top
IO=build/tests/ampstat_io
for b in $A $IO; do [ -x $b ] || { echo "Bail out! $b missing (run make)"; exit 1; }; done
AS_PID='' IO_PID='' LOOPDEV='' D=''
cleanup() {
	for p in $AS_PID $IO_PID; do
		if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; fi
	done
	[ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV" 2>/dev/null
	[ -n "$D" ] && rm -rf "$D"
	lib_cleanup
}
trap cleanup EXIT

# ---- usage
timeout 10 $A top --syscalls >/dev/null 2>&1
is "$?" 2 "usage error exits 2: top --syscalls without -p"
out=$(timeout 10 $A top -h)
like "$out" "--syscalls" "top -h documents --syscalls"
like "$out" "row 'kernel'" "top -h documents the kernel row"
if [ "$(id -u)" -ne 0 ]; then
	if [ "${AMPED_REQUIRE_BPF:-0}" = 1 ]; then ok 1 "BPF part: AMPED_REQUIRE_BPF=1 but not root"; fi
	done_testing; exit $((TAP_FAILED > 0))
fi

# js EXPR: EXPR on the JSON summary s (the last line of as.out)
js() { tail -n 1 "$T/as.out" | "$PY" -c "
import json, sys
s = json.load(sys.stdin)
def role(name):
    for r in s['roles']:
        if r['role'] == name:
            return r
    return {'cache_accesses': 0, 'cache_misses': 0, 'cache_hit_ratio': None, 'syscalls': None}
print($1)" 2>/dev/null; }
io() { echo "$1" >&"${IOP[1]}"; local l; read -r -t 30 l <&"${IOP[0]}"; echo "$l"; }
# ran_twins: after a run with AMPSTAT_FORCE_RAW_TP=1, it said so and only
# the raw_tp twins of the sched programs ran
ran_twins() {
	V="[raw_tp] " like "$(cat "$T/as.err")" "raw_tp instead of tp_btf for sched_switch" "it says it uses raw_tp"
	local r
	r=$(js "(lambda r: '%s %s' % (bool(r) and all(n.endswith('_raw') for n in r), ','.join(r)))([p['name'] for p in s['bpf']['progs'] if p['runs'] > 0 and p['name'] != 'as_sample'])")
	V="[raw_tp] " like "$r" "^True " "only the raw_tp twins ran ($r)"
}
num_in() { "$PY" -c "import sys; v = float('${1:-x}' if '${1:-x}' not in ('None', '') else 'nan'); sys.exit(0 if $2 <= v <= $3 else 1)" 2>/dev/null; echo $?; }

# ---- syscalls
N=12345
coproc IOP { exec $IO; }
IO_PID=$!
read -r -t 10 ready <&"${IOP[0]}"
like "$ready" "^ready [0-9]+$" "ampstat_io starts"
io "reads 5" >/dev/null	# glibc's first thread start: not in the window
as_start -p "$IO_PID" -i 3600 --json --syscalls --role 'io=^am-io$' || bpf_unavailable
ok 0 "ampstat top --syscalls attaches"
like "$(cat "$T/as.err")" "syscalls counted" "it says it counts system calls"
is "$(io "reads $N")" "ok $N" "ampstat_io did $N reads"
as_stop
is "$RC_AS" 0 "SIGINT: exits 0"
tot=$(js "sum(r['syscalls'] for r in s['roles'])")
ok "$(num_in "$tot" $N $((N + 50)))" "system calls of the process: $N <= $tot <= $N + 50"
ok "$(num_in "$(js "role('other')['syscalls_per_s']")" 1 1e12)" "syscalls_per_s reported for the creator's row"
# the same in the text report's thread table (--threads): the creator's
# row (tid = pid) carries the reads in its SYSC column
as_start -p "$IO_PID" -i 3600 --syscalls --threads || bpf_unavailable
io "reads $N" >/dev/null
as_stop
sc=$(awk -v p="$IO_PID" '$1 == "TGID" { for (i = 1; i <= NF; i++) if ($i ~ /^SYSC/) c = i }
	c && $1 == p && $2 == p { v = $c } END { print v }' "$T/as.out")
ok "$(num_in "$sc" $N $((N + 50)))" "text --threads: SYSC column of tid $IO_PID: $N <= ${sc:-none} <= $N + 50"
as_start -p "$IO_PID" -i 3600 --json || bpf_unavailable
io "reads 10" >/dev/null
as_stop
is "$(js "all(r['syscalls'] is None and r['syscalls_per_s'] is None for r in s['roles'])")" True \
	"without --syscalls: syscalls are null"

# ---- cache hit ratio, cold and warm
D=$(mktemp -d "$PWD/build/t67.XXXXXX")
if [ "$(stat -f -c %T "$D")" = tmpfs ]; then
	skip "cache hit ratio" "build/ is on tmpfs (its pages never go through the filemap tracepoints)"
else
	NP=1000
	head -c $((NP * 4096 - 100)) /dev/urandom >"$D/file.bin"
	sync "$D/file.bin" 2>/dev/null || sync
	measure() { # measure cold|warm: 0 when the traced read was clean
		local r
		if [ "$1" = cold ]; then
			r=$(io "cold $D/file.bin")
			[ "$r" = "ok 0" ] || { diag "fadvise(DONTNEED) left: $r"; return 1; }
		else
			io "read $D/file.bin" >/dev/null
			r=$(io "resident $D/file.bin")
			[ "$r" = "ok $NP" ] || { diag "warm: before: $r resident"; return 1; }
		fi
		as_start -p "$IO_PID" -i 3600 --json --cache --role 'io=^am-io$' || bpf_unavailable
		r=$(io "read $D/file.bin")
		as_stop
		[ "$r" = "ok $NP" ] && [ "$RC_AS" = 0 ] || { diag "$1: read $r, ampstat $RC_AS"; return 1; }
		r=$(io "resident $D/file.bin")
		[ "$r" = "ok $NP" ] || { diag "$1: after: $r resident: evicted meanwhile, again"; return 1; }
	}
	cache_ratio() {
	for temp in cold warm; do
		for try in 1 2 3; do measure $temp && break; done
		read -r acc miss ratio <<<"$(js "'%d %d %s' % (role('io')['cache_accesses'], role('io')['cache_misses'], role('io')['cache_hit_ratio'])")"
		what="accesses $acc misses $miss ratio $ratio; try $try"
		if [ $temp = cold ]; then
			ok "$(num_in "$miss" $((NP * 98 / 100)) $((NP * 102 / 100)))" "cold: $NP misses within 2% ($what)"
			ok "$(num_in "$ratio" 0 0.02)" "cold: hit ratio <= 0.02 ($what)"
		else
			ok "$(num_in "$miss" 0 $((NP * 2 / 100)))" "warm: at most 2% misses ($what)"
			ok "$(num_in "$ratio" 0.98 1)" "warm: hit ratio >= 0.98 ($what)"
		fi
	done
	}
	cache_ratio
	AMPSTAT_FORCE_RAW_TP=1 V="[raw_tp] " cache_ratio
	ran_twins
	is "$(js "role('other')['cache_hit_ratio']")" None "a role that accessed no page has ratio null"
fi
exec {IOP[1]}>&-
wait "$IO_PID"; IO_PID=''

# ---- the kernel row under loopback load
kfields="softirq_ns softirq_in_target_ns softirq_in_kthreads_ns softirq_elsewhere_ns ksoftirqd_ns kworker_ns block_ns other_kthreads_ns cpu_ns samples"
if ! command -v wrk >/dev/null; then
	skip "kernel row under wrk" "wrk missing"
else
	make_docroot "$ROOT"
	srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
	kernel_row() {
	as_start -p "$SRV_PID" -i 3600 --json || bpf_unavailable
	timeout 20 wrk -t1 -c20 -d2s "$SRV_URL/1k.txt" >"$T/wrk.out" 2>&1
	as_stop
	is "$RC_AS" 0 "ampstat top exits 0"
	is "$(js "s['kernel']['scope'] == 'machine' and all(isinstance(s['kernel'][k], int) and s['kernel'][k] >= 0 for k in '$kfields'.split())")" \
		True "the kernel row: every field present, non-negative" "$(tail -n 1 "$T/as.out" | head -c 600)"
	is "$(js "s['kernel']['softirq_ns'] > 0")" True \
		"softirq time > 0 under wrk over loopback ($(js "'%.1f ms, %d samples' % (s['kernel']['softirq_ns'] / 1e6, s['kernel']['samples'])"))"
	is "$(js "s['kernel']['softirq_ns'] == s['kernel']['softirq_in_target_ns'] + s['kernel']['softirq_in_kthreads_ns'] + s['kernel']['softirq_elsewhere_ns']")" \
		True "softirq time is the sum of its three contexts"
	bad=$(js "[t['tid'] for t in s['threads'] if abs(sum(t[k + '_ns'] for k in ('user', 'kernel', 'blocked_io', 'wait_idle', 'wait_other', 'runq', 'steal')) - t['wall_ns']) > 0.01 * t['wall_ns']]")
	is "$bad" "[]" "every thread's buckets still sum to its wall time (1%)"
	is "$(js "bool(s['roles']) and all(r[k] is None for r in s['roles'] for k in ('cache_accesses', 'cache_misses', 'cache_hit_ratio'))")" True \
		"without --cache: the page-cache figures are null"
	is "$(js "[p['name'] for p in s['bpf']['progs'] if 'cache' in p['name']]")" "[]" \
		"without --cache: no filemap program is loaded (they cost every page-cache access of the machine)"
	}
	kernel_row
	AMPSTAT_FORCE_RAW_TP=1 V="[raw_tp] " kernel_row
	ran_twins
	# the text report has the kernel row
	as_start -p "$SRV_PID" -i 3600 || bpf_unavailable
	as_stop
	like "$(cat "$T/as.out")" $'\n''kernel +- +[0-9.]+ = CPUs used outside the target, machine-wide' "text report: the kernel row"
	srv_stop TERM
fi

# ---- block/loop kernel threads: O_DIRECT writes to a loop device
if ! command -v losetup >/dev/null || [ "$(stat -f -c %T "$D")" = tmpfs ]; then
	skip "block/loop time" "no losetup, or build/ on tmpfs"
else
	head -c $((16 << 20)) /dev/zero >"$D/loop.img"
	LOOPDEV=$(losetup -f --show "$D/loop.img" 2>"$T/lo.err")
	if [ -z "$LOOPDEV" ]; then
		skip "block/loop time" "losetup failed: $(head -c 200 "$T/lo.err")"
	else
		block_row() {
		sleep 300 &
		SLP=$!
		as_start -p "$SLP" -i 3600 --json || bpf_unavailable
		dd if=/dev/zero of="$LOOPDEV" bs=64k count=128 oflag=direct 2>"$T/dd.err"
		ok $? "dd wrote 8 MiB to $LOOPDEV with O_DIRECT" "$(cat "$T/dd.err")"
		as_stop
		kill "$SLP"; wait "$SLP" 2>/dev/null
		is "$(js "s['kernel']['block_ns'] > 0")" True \
			"block/loop kernel threads' time > 0 ($(js "'%.2f ms' % (s['kernel']['block_ns'] / 1e6)"))"
		}
		block_row
		AMPSTAT_FORCE_RAW_TP=1 V="[raw_tp] " block_row
		ran_twins
		losetup -d "$LOOPDEV"; LOOPDEV=''
	fi
fi
done_testing
exit $((TAP_FAILED > 0))
