#!/bin/bash
# demo.sh — `make demo`: start amped on a small generated site, put it under a
# short closed-loop load (wrk, 50 connections, a 1 KiB file) and print what it
# did; then the same for the SPED model for contrast.  About 15 s.
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
"$EXP_ROOT/scripts/gen-site.sh" "$site" --files 20 --size 102400 --seed 1

run_model() {
	local model=$1
	exp_start_amped "$work/amped-$model" --root "$site" --port 0 --model "$model"
	echo "== $(head -n1 "$work/amped-$model.out")"
	exp_check_body "${AMPED_URL}1k.bin" "$site/1k.bin"
	exp_check_body "${AMPED_URL}f00007.bin" "$site/f00007.bin"
	echo "   wrk -t1 -c$CONNS -d${DURATION_S}s --latency ${AMPED_URL}1k.bin"
	exp_wrk "$work/wrk-$model.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "${AMPED_URL}1k.bin"
	printf '   %-6s %10.0f requests/s   latency p50 %7.3f ms   p99 %7.3f ms   errors %d\n' \
		"$model" "$WRK_RPS" "$WRK_P50_MS" "$WRK_P99_MS" "$WRK_ERRORS"
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
echo "should be close here; the difference appears on cold data behind a slow disk"
echo "(scripts/flash-experiment.sh)."
