#!/bin/bash
# demo.sh — `make demo`: start amped on a small generated site, put it under a
# short closed-loop load (wrk, 50 connections, a 1 KiB file) and print what it
# did; then the same for the SPED model for contrast, and for nginx (one
# worker, `aio threads`) and lighttpd (installed by scripts/deps.sh when
# missing, which needs root; else skipped).  While wrk runs, `ampstat top` (root
# only: it loads BPF programs) watches the server and prints where its time
# went, per role: amped's dispatcher and helpers; nginx's master, worker and
# aio-threads; lighttpd's event-loop.  About 30 s.
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

# load_and_watch NAME PID URL: wrk on URL for DURATION_S; with ampstat, one
# `top` report over the middle of the load on PID, printed per role.
load_and_watch() {
	local name=$1 pid=$2 url=$3 stat_pid=""
	echo "   wrk -t1 -c$CONNS -d${DURATION_S}s --latency $url"
	if [ "$can_trace" = 1 ]; then
		# attach after wrk has started, detach before it ends
		(sleep 0.5; exec "$AMPSTAT" top -p "$pid" -i "$((DURATION_S - 1))" -n 1) \
			>"$work/ampstat-$name.txt" 2>&1 &
		stat_pid=$!
		EXP_PIDS+=("$stat_pid")
	fi
	exp_wrk "$work/wrk-$name.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "$url"
	printf '   %-8s %10.0f requests/s   latency p50 %7.3f ms   p99 %7.3f ms   errors %d\n' \
		"$name" "$WRK_RPS" "$WRK_P50_MS" "$WRK_P99_MS" "$WRK_ERRORS"
	if [ -n "$stat_pid" ]; then
		local src=0
		wait "$stat_pid" || src=$?
		exp_forget_pid "$stat_pid"
		if [ "$src" -ne 0 ]; then
			exp_log "ampstat top failed (status $src):"
			sed 's/^/    /' "$work/ampstat-$name.txt" >&2
			return 1
		fi
		echo "   where the time went (ampstat top -p $pid, threads on average in each state):"
		# The interval report; the summary repeats it.
		awk '/^ampstat top .*summary/ { exit } /^(ROLE|[a-z])/ && !/^ampstat/ { print "     " $0 }' \
			"$work/ampstat-$name.txt"
	fi
	if [ "$WRK_ERRORS" -ne 0 ]; then
		exp_log "$WRK_ERRORS errors under load on $name (see $work/wrk-$name.txt)"
		return 1
	fi
}

# stop_server NAME PID ERRFILE: SIGTERM; it must exit 0
stop_server() {
	local rc=0
	exp_stop_pid "$2" 10000 || rc=$?
	if [ "$rc" -ne 0 ]; then
		exp_log "$1 exited with status $rc after SIGTERM; stderr:"
		sed 's/^/    /' "$3" >&2
		return 1
	fi
}

run_model() {
	local model=$1
	exp_start_amped "$work/amped-$model" --root "$site" --port 0 --model "$model"
	echo "== $(head -n1 "$work/amped-$model.out")"
	exp_check_body "${AMPED_URL}1k.bin" "$site/1k.bin"
	exp_check_body "${AMPED_URL}f00007.bin" "$site/f00007.bin"
	load_and_watch "$model" "$AMPED_PID" "${AMPED_URL}1k.bin"
	stop_server "amped --model $model" "$AMPED_PID" "$work/amped-$model.err"
}

# run_peer nginx|lighttpd: the same load on the same site
run_peer() {
	local name=$1 port url pid
	port=$(exp_free_port)
	mkdir -p "$work/$name"
	if [ "$name" = nginx ]; then
		exp_start_nginx "$work/$name" "$site" "$port" "aio threads;"
		echo "== nginx (one worker, aio threads) on http://127.0.0.1:$port/"
	else
		exp_start_lighttpd "$work/$name" "$site" "$port"
		echo "== lighttpd (one process) on http://127.0.0.1:$port/"
	fi
	pid=$EXP_LAST_PID
	url="http://127.0.0.1:$port/"
	exp_wait_http "${url}1k.bin"
	exp_check_body "${url}f00007.bin" "$site/f00007.bin"
	load_and_watch "$name" "$pid" "${url}1k.bin"
	stop_server "$name" "$pid" "$work/$name/$name.err"
}

echo "amped demo: $CONNS keep-alive connections for ${DURATION_S}s on a 1 KiB file (site: $site)"
run_model amped
run_model sped
peers=0
# installed through scripts/deps.sh when missing, as the benches do (root)
if exp_install_peers; then
	run_peer nginx
	run_peer lighttpd
	peers=1
else
	exp_log "nginx or lighttpd is missing (scripts/deps.sh nginx lighttpd, as root): no peers"
fi
echo
echo "Both models serve a cached 1 KiB file from the dispatcher alone, so they"
echo "should be close here, and the helpers of amped sit idle; the difference"
echo "appears on cold data behind a slow disk (scripts/flash-experiment.sh), where"
echo "SPED's dispatcher shows BLKIO (threads blocked on the disk) and AMPED's helpers take it instead."
if [ "$peers" = 1 ]; then
	echo "nginx's worker plays the dispatcher and its aio-threads the helpers; with"
	echo "sendfile and aio threads, nginx on Linux hands every sendfile to its pool,"
	echo "so the aio-threads work even here, on cached data (their VCSW/s).  lighttpd"
	echo "has one event loop, like SPED: on cold data it shows BLKIO itself."
fi
