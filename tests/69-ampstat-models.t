#!/bin/bash
# ampstat against the models of issue 13: each shows its roles, by the
# thread names amped gives them (include/amped_names.h), in top, latency,
# blocked and cache, all four attached to the same server run.
#   seda    stage-acc, stage-http (event loops: they finish the requests),
#           stage-file (path lookups and cold reads)
#   ult     dispatcher (the one kernel thread: scheduler and every
#           user-level thread), helpers (its disk workers)
#   hybrid  supervisor (the parent), boss (each process's listener),
#           workers (each process's pool)
# top: the busy role carries the load, and ult's user-level switches/s and
# seda's stage table are printed (from amped_ult / amped_seda).
# latency: requests by the role of the thread that finished them.
# blocked: what "the event loop blocked" means for the model (its summary
# names it), the role of each event, and the other threads' D state by
# role: cold files (dropped from the page cache before the run) are read by
# stage-file, helpers, workers, which wait for the disk in D state.
# cache: page-cache accesses per role.
# ult runs with --poller poll: its scheduler thread idling in poll is an
# idle wait for blocked (and top, latency, offcpu), not a stall.
# Normal build; root and BPF (else skipped, failed under
# AMPED_REQUIRE_BPF=1).
. "$(dirname "$0")/lib.sh"
A=build/ampstat
AS_CMD=top
. "$(dirname "$0")/ampstat_lib.sh"

make_docroot "$ROOT"
"$PY" - "$ROOT" <<'PYEOF'
import random, sys
r = random.Random(69)
for i in range(6):
    with open("%s/cold%d.bin" % (sys.argv[1], i), "wb") as f:
        f.write(r.randbytes(512 * 1024))
PYEOF
sync
BIN=${BINS[0]}

# uncache: drop the cold files from the page cache (clean after the sync)
uncache() {
	"$PY" - "$ROOT" <<'PYEOF'
import os, sys
for i in range(6):
    fd = os.open("%s/cold%d.bin" % (sys.argv[1], i), os.O_RDONLY)
    os.fdatasync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PYEOF
}

# role_cpu ROLE: ONCPU of ROLE in the summary table, in CPUs ("" if absent)
role_cpu() { awk -v r="$1" '/summary over/ { s = 1 } s && $1 == r { print $3; exit }' "$T/as.out"; }
# in_section FILE START ROLE: ROLE begins a line after the line matching START
in_section() { awk -v st="$2" -v r="$3" '$0 ~ st { s = 1; next } s && $1 == r { f = 1 } END { exit !f }' "$1"; }

# more_start NAME ARGS...: another ampstat beside top, output in $T/NAME.*
MORE=()
more_start() {
	local n=$1 i
	shift
	: >"$T/$n.err"
	$A "$@" >"$T/$n.out" 2>"$T/$n.err" &
	MORE+=($!)
	for i in $(seq 1 500); do
		grep -q 'tracing pid' "$T/$n.err" && return 0
		kill -0 "${MORE[-1]}" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}
more_stop() {
	local p
	for p in "${MORE[@]}"; do
		wait_exit "$p" 15 || { kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; }
	done
	MORE=()
}

check() { # MODEL BUSYROLE "TOP ROLES" "LATENCY ROLE" "BLOCKED LOOPS ERE" "D-STATE ROLE" "CACHE ROLES" MODELLINE
	local m=$1 busy=$2 top_roles=$3 lat_role=$4 loops=$5 drole=$6 cache_roles=$7 mline=$8 r i
	V="[$BIN $m] "
	uncache
	if ! srv_start "$BIN" "$m" --helpers 2 --workers 2; then
		ok 1 "server starts"
		return
	fi
	if ! as_start -p "$SRV_PID" -i 3 -n 1; then
		srv_stop TERM
		bpf_unavailable
	fi
	if ! more_start lat latency -p "$SRV_PID" -d 4 || ! more_start blk blocked -p "$SRV_PID" -d 4 --no-stacks ||
		! more_start cache cache -p "$SRV_PID" -d 4; then
		ok 1 "ampstat latency, blocked and cache attach beside top" "$(cat "$T"/lat.err "$T"/blk.err "$T"/cache.err)"
		more_stop
		stop_ampstat
		srv_stop TERM
		return
	fi
	timeout 10 wrk -t1 -c16 -d2 "$SRV_URL/1k.txt" >/dev/null 2>&1
	for i in 0 1 2 3 4 5; do
		curl -s -o /dev/null --max-time 5 "$SRV_URL/cold$i.bin"
	done
	wait_exit "$AS_PID" 15 || stop_ampstat
	AS_PID=''
	more_stop
	# top
	for r in $top_roles; do
		ok "$([ -n "$(role_cpu "$r")" ]; echo $?)" "ampstat top shows role $r" "$(cat "$T/as.out")"
	done
	ok "$(awk -v c="$(role_cpu "$busy")" 'BEGIN { exit !(c + 0 > 0.01) }'; echo $?)" \
		"under load, $busy is on CPU ($(role_cpu "$busy") CPUs)" "$(cat "$T/as.out")"
	[ -n "$mline" ] && like "$(sed -n '/summary over/,$p' "$T/as.out")" "$mline" \
		"ampstat top prints the model's own counters"
	# latency
	ok "$(in_section "$T/lat.out" '^by role' "$lat_role"; echo $?)" \
		"ampstat latency: requests finished by role $lat_role" "$(cat "$T/lat.out" "$T/lat.err")"
	# blocked
	like "$(grep '^event loops:' "$T/blk.out")" "$loops" "ampstat blocked says what the event loops are" \
		"$(cat "$T/blk.out" "$T/blk.err")"
	ok "$(in_section "$T/blk.out" '^other threads' "$drole"; echo $?)" \
		"ampstat blocked: D state of role $drole (cold reads)" "$(cat "$T/blk.out")"
	if [ "${m#*+}" != "$m" ]; then
		# --poller poll: the loop idles in poll, which is an idle wait
		# (bpf/ampstat_idle.bpf.h), not a stall
		ok "$(awk '/^idle waits of the dispatcher/ { exit !($NF > 0) }' "$T/blk.out"; echo $?)" \
			"ampstat blocked: ${m#*+} is the loop's idle wait, not a stall" "$(cat "$T/blk.out")"
	fi
	# cache
	for r in $cache_roles; do
		ok "$(grep -Eq "^ *$r( |$)" "$T/cache.out"; echo $?)" "ampstat cache shows role $r" \
			"$(cat "$T/cache.out" "$T/cache.err")"
	done
	srv_stop TERM
}

check seda stage-http "stage-acc stage-http stage-file" stage-http "seda's http-stage threads" stage-file \
	"stage-http stage-file" 'seda stages +THR +QUEUE.*
 +http +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+'
check ult+poll dispatcher "dispatcher helpers" dispatcher "ult's scheduler thread" helpers \
	"dispatcher helpers" 'ult: user-level switches/s [1-9][0-9]*'
check hybrid workers "supervisor boss workers" workers "none: this model has no event loop" workers \
	"workers" ''
V=''
done_testing
