#!/bin/bash
# demo.sh — `make demo`: start amped on a small generated site, put it under a
# short closed-loop load (wrk, 50 connections, a 1 KiB file) and print what it
# did; then the same for the SPED model for contrast.  While wrk runs,
# `ampstat top` (root only: it loads BPF programs) watches the server and
# prints where its time went, per role: dispatcher, helpers, kernel.
# About 15 s.
# Exit status: 0 ok, 1 if anything failed (build missing, server did not start,
# wrong bytes served, errors under load, unclean shutdown).
set -eu
EXP_NAME=demo
# shellcheck source=scripts/lib-exp.sh
. "$(dirname "$0")/lib-exp.sh"

DURATION_S=${DURATION_S:-5}
CONNS=${CONNS:-50}
site="$EXP_BUILD/demo-site"
work="$EXP_BUILD/demo"

command -v wrk >/dev/null || exp_die "wrk is missing (run scripts/deps.sh)"
[ -x "$AMPED_BIN" ] || exp_die "$AMPED_BIN is missing (run make)"
mkdir -p "$work"
AMPSTAT=$EXP_BUILD/ampstat
can_trace=0
if [ "$(id -u)" -eq 0 ] && [ -x "$AMPSTAT" ]; then
	can_trace=1
else
	exp_log "not root: skipping ampstat (it loads BPF programs)"
fi
"$EXP_ROOT/scripts/gen-site.sh" "$site" --files 20 --size 102400 --seed 1

run_model() {
	local model=$1
	exp_start_amped "$work/amped-$model" --root "$site" --port 0 --model "$model"
	echo "== $(head -n1 "$work/amped-$model.out")"
	exp_check_body "${AMPED_URL}1k.bin" "$site/1k.bin"
	exp_check_body "${AMPED_URL}f00007.bin" "$site/f00007.bin"
	echo "   wrk -t1 -c$CONNS -d${DURATION_S}s --latency ${AMPED_URL}1k.bin"
	local stat_pid=""
	if [ "$can_trace" = 1 ]; then
		# One report over the middle of the load: attach after wrk has
		# started, detach before it ends.
		(sleep 0.5; exec "$AMPSTAT" top -p "$AMPED_PID" -i "$((DURATION_S - 1))" -n 1) \
			>"$work/ampstat-$model.txt" 2>&1 &
		stat_pid=$!
		EXP_PIDS+=("$stat_pid")
	fi
	exp_wrk "$work/wrk-$model.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "${AMPED_URL}1k.bin"
	printf '   %-6s %10.0f requests/s   latency p50 %7.3f ms   p99 %7.3f ms   errors %d\n' \
		"$model" "$WRK_RPS" "$WRK_P50_MS" "$WRK_P99_MS" "$WRK_ERRORS"
	if [ -n "$stat_pid" ]; then
		local src=0
		wait "$stat_pid" || src=$?
		exp_forget_pid "$stat_pid"
		if [ "$src" -ne 0 ]; then
			exp_log "ampstat top failed (status $src):"
			sed 's/^/    /' "$work/ampstat-$model.txt" >&2
			return 1
		fi
		echo "   where the time went (ampstat top -p $AMPED_PID, shares of wall time per thread):"
		# The interval report; the summary repeats it.
		awk '/^ampstat top .*summary/ { exit } /^(ROLE|[a-z])/ && !/^ampstat/ { print "     " $0 }' \
			"$work/ampstat-$model.txt"
	fi
	local rc=0
	exp_stop_pid "$AMPED_PID" 10000 || rc=$?
	if [ "$rc" -ne 0 ]; then
		exp_log "amped --model $model exited with status $rc after SIGTERM; stderr:"
		sed 's/^/    /' "$work/amped-$model.err" >&2
		return 1
	fi
	if [ "$WRK_ERRORS" -ne 0 ]; then
		exp_log "$WRK_ERRORS errors under load with --model $model (see $work/wrk-$model.txt)"
		return 1
	fi
}

echo "amped demo: $CONNS keep-alive connections for ${DURATION_S}s on a 1 KiB file (site: $site)"
run_model amped
run_model sped
echo
echo "Both models serve a cached 1 KiB file from the dispatcher alone, so they"
echo "should be close here, and the helpers of amped sit idle; the difference"
echo "appears on cold data behind a slow disk (scripts/flash-experiment.sh), where"
echo "SPED's dispatcher shows BLKIO% and AMPED's helpers take it instead."
