#!/bin/bash
# bench-pollers.sh — select vs poll vs epoll (issue 13): what watching idle
# descriptors costs an event loop.
#
# One amped (--model sped: one dispatcher thread, so all of the server's
# CPU time is the loop's) per poller and idle count, started fresh each
# time; IDLE keep-alive connections opened and answered once, then held
# idle (tests/fuzz/hostile.py idle) while wrk -t1 -cCONNS fetches a cached
# 1 KiB file for DURATION_S seconds.  Measured: requests/s (wrk) and the
# server's CPU time per request (/proc/PID/task/*/schedstat, field 1:
# ns on CPU, summed over the run).  The pollers' order rotates every
# round; the table gives the median of ROUNDS rounds and the min–max.
# select and poll pass every watched fd to the kernel on each wait and scan
# them all after it: their cost per request grows with the idle count;
# epoll's should not.  select holds fds below 1024 only: at 1000 idle some
# of the idle ones (and all that come later) get amped's 503 — the "held"
# column shows how many idle connections the server kept.
#
# Environment: ROUNDS (3), DURATION_S (3), CONNS (8: active connections,
# few so that select at 1000 idle still serves them), IDLES ("10 100
# 1000"), EPOLL_ALSO ("10000": idle counts for epoll alone), MODEL (sped),
# EXP_NO_PIN=1.  Figures from a shared machine are noisy: compare within
# one run.  Exit status: 0 ok, 1 when a run failed.
set -eu
EXP_NAME=bench-pollers
# shellcheck source=scripts/lib-exp.sh
. "$(dirname "$0")/lib-exp.sh"

ROUNDS=${ROUNDS:-3}
DURATION_S=${DURATION_S:-3}
CONNS=${CONNS:-8}
IDLES=${IDLES:-10 100 1000}
EPOLL_ALSO=${EPOLL_ALSO:-10000}
MODEL=${MODEL:-sped}
site="$EXP_BUILD/demo-site"
work="$EXP_BUILD/bench-pollers"
file=1k.bin
HOSTILE="$EXP_ROOT/tests/fuzz/hostile.py"

[ -x "$AMPED_BIN" ] || exp_die "$AMPED_BIN is missing (run make)"
command -v wrk >/dev/null || exp_die "wrk is missing (run scripts/deps.sh)"
mkdir -p "$work"
"$EXP_ROOT/scripts/gen-site.sh" "$site" --files 20 --size 102400 --seed 1 >/dev/null

# one POLLER IDLE ROUND: appends "poller idle round rps cpu_us_per_req held errors"
one() {
	local p=$1 idle=$2 round=$3 fifo hpid line held c0 c1 n
	exp_start_amped "$work/srv-$p-$idle" --root "$site" --port 0 --model "$MODEL" --poller "$p" \
		--max-conns $((idle + 2000)) --keepalive-timeout-ms 600000 --header-timeout-ms 600000 ||
		exp_die "amped --poller $p did not start"
	exp_wait_http "$AMPED_URL$file" 5000 || exp_die "amped --poller $p does not answer"
	fifo="$work/idle.fifo"
	rm -f "$fifo"
	mkfifo "$fifo"
	python3 "$HOSTILE" idle 127.0.0.1 "$AMPED_PORT" "$idle" "/$file" <"$fifo" >"$work/idle.out" 2>&1 &
	hpid=$!
	EXP_PIDS+=("$hpid")
	exec 9>"$fifo"
	for _ in $(seq 1 1200); do
		grep -q '^READY' "$work/idle.out" && break
		kill -0 "$hpid" 2>/dev/null || break
		sleep 0.1
	done
	line=$(grep '^READY' "$work/idle.out" || true)
	[ -n "$line" ] || exp_die "the idle clients did not get ready: $(head -3 "$work/idle.out")"
	held=$(awk '{ print $3 }' <<<"$line")
	sleep 0.3
	c0=$(exp_cpu_ns "$AMPED_PID")
	exp_wrk "$work/wrk-$p-$idle-$round.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "$AMPED_URL$file" ||
		exp_die "wrk against --poller $p failed"
	c1=$(exp_cpu_ns "$AMPED_PID")
	n=$(awk '/requests in/ { print $1 }' "$work/wrk-$p-$idle-$round.txt")
	exec 9>&-
	wait "$hpid" 2>/dev/null || true
	exp_forget_pid "$hpid"
	exp_stop_pid "$AMPED_PID" 5000 || true
	awk -v p="$p" -v i="$idle" -v r="$round" -v rps="$WRK_RPS" -v c="$((c1 - c0))" -v n="$n" \
		-v h="$held" -v e="$WRK_ERRORS" 'BEGIN {
		printf "%s %s %s %.0f %.2f %s %s\n", p, i, r, rps, (n > 0 ? c / n / 1000 : 0), h, e }' >>"$results"
	tail -n1 "$results" | awk '{ printf "  round %s  %-6s %6s idle  %8s req/s  %6s us/req  held %s  errors %s\n", $3, $1, $2, $4, $5, $6, $7 }'
}

results="$work/results.txt"
: >"$results"
pollers=(select poll epoll)
echo "bench-pollers: model $MODEL, wrk -t1 -c$CONNS -d${DURATION_S}s on $file, idle $IDLES (+ $EPOLL_ALSO for epoll), $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
	for idle in $IDLES; do
		for k in 0 1 2; do
			one "${pollers[$(((k + round) % 3))]}" "$idle" "$round"
		done
	done
	for idle in $EPOLL_ALSO; do
		one epoll "$idle" "$round"
	done
done

echo
printf 'cached 1 KiB file, %s, median of %d rounds (min-max); shared machine: noisy\n' "$MODEL" "$ROUNDS"
printf '%-7s %6s %8s %18s %9s %18s %6s\n' poller idle req/s "(min-max)" "us/req" "(min-max)" held
for p in select poll epoll; do
	for idle in $IDLES $EPOLL_ALSO; do
		awk -v p="$p" -v i="$idle" '$1 == p && $2 == i' "$results" | grep -q . || continue
		awk -v p="$p" -v i="$idle" '$1 == p && $2 == i { r[++n] = $4; c[n] = $5; h = $6 }
		function med(a, n,   t, i, j) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END {
			printf "%-7s %6d %8.0f %18s %9.2f %18s %6d\n", p, i, med(r, n),
				sprintf("(%.0f-%.0f)", r[1], r[n]), med(c, n), sprintf("(%.2f-%.2f)", c[1], c[n]), h
		}' "$results"
	done
done
echo "raw results: $results"
