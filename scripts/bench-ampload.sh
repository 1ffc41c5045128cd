#!/bin/bash
# bench-ampload.sh — ampload's own figures for issue 5, run by `make bench`.
#
# 1. Closed loop, one thread, CONNS connections, a cached 1 KiB file on
#    lighttpd: ampload's requests/s against wrk's (wrk -t1 -cCONNS), in
#    ROUNDS interleaved rounds; the median of the per-round ratios
#    ampload/wrk must be >= 1.0 (the ratio of the medians is shown too).
# 2. Open loop at RATE req/s (Poisson) on the same server, POOL keep-alive
#    connections opened before the start and no more (--max-conns): the
#    achieved rate — requests sent per second — must be within 1% of the
#    target, with the generator's send lateness small.  Responses per
#    second are shown too: they fall short when lighttpd itself cannot
#    keep up (then latency grows without bound: an open loop does not slow
#    down for the server).  A fixed pool keeps an overloaded server's queue
#    in ampload's backlog, measured from the intended send times, instead
#    of a storm of new connections past lighttpd's max-connections.
# lighttpd is pinned to CPU 0 and the load generators to CPU 1; every run
# gets a fresh lighttpd, warmed up by a short wrk run, and the order of the
# two tools alternates from round to round (lib-bench.sh).  Throughput
# swings +-20% between runs on these machines, hence rounds, medians and
# their min-max.  Each closed round also shows CPU time per request — the
# generator's own (user + system of a reaped child of this shell, in clock
# ticks: it has exited when we read it) and lighttpd's while serving it
# (schedstat, exact) — which other load on the machine moves much less than
# requests/s: a
# generator can lower the server's cost too (a client that sleeps between
# responses is woken by an interrupt the server's CPU pays for).
#
# Environment: ROUNDS (5), DURATION_S (10), CONNS (50), RATE (50000), POOL (256),
# AMPLOAD (build/ampload), EXP_NO_PIN=1.
# Exit status: 0 when everything ran (targets met or not: see the last
# lines), 1 when something failed.
set -eu
EXP_NAME=bench-ampload
# shellcheck source=scripts/lib-bench.sh
. "$(dirname "$0")/lib-bench.sh"

ROUNDS=${ROUNDS:-5}
DURATION_S=${DURATION_S:-10}
CONNS=${CONNS:-50}
RATE=${RATE:-50000}
POOL=${POOL:-256}
AMPLOAD=${AMPLOAD:-$EXP_BUILD/ampload}
work="$EXP_BUILD/bench-ampload"
BENCH_SITE="$work/site"

[ -x "$AMPLOAD" ] || exp_die "$AMPLOAD is missing (run make)"
command -v wrk >/dev/null || exp_die "wrk is not installed (scripts/deps.sh)"
exp_install_peers || exp_die "cannot install lighttpd"
# A fixed 1 KiB file: the same bytes every run.
bench_site "$BENCH_SITE" 1024

# fresh: a new lighttpd, warmed up; its pid in LPID, the file's URL in url
fresh() {
	bench_start lighttpd "$work/run" 1024 || exp_die "lighttpd did not start"
	LPID=$BENCH_PID url=$BENCH_URL
	exp_wrk "$work/run/warmup.txt" -t1 -c"$CONNS" -d1s "$url"
}

# jnum FILE EXPR: a number from ampload's JSON (`d` is the document).
jnum() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}

# amp OUTPREFIX ARGS...: run ampload pinned to CPU 1, JSON to OUTPREFIX.json.
amp() {
	local out=$1
	shift
	# shellcheck disable=SC2046
	exp_run "$out.txt" timeout $((DURATION_S + 60)) $(exp_pin 1) "$AMPLOAD" --json "$out.json" "$@"
	if [ "$EXP_RC" != 0 ]; then
		exp_log "ampload failed (status $EXP_RC):"; sed 's/^/    /' "$out.txt" >&2; return 1
	fi
}

# ticks: user + system time of this shell's reaped children, in clock ticks
ticks() { awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$$/stat"; }
HZ=$(getconf CLK_TCK)
# cpu_run CMD...: run CMD (exp_wrk or amp) and set GEN_NS and SRV_NS, the
# CPU time it and lighttpd used meanwhile.
cpu_run() {
	local g0 s0
	g0=$(ticks)
	s0=$(bench_cpu_ns "$LPID")
	"$@"
	GEN_NS=$((($(ticks) - g0) * 1000000000 / HZ))
	SRV_NS=$(($(bench_cpu_ns "$LPID") - s0))
}
# usreq NS N: microseconds per request
usreq() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.2f", (n > 0) ? t / 1e3 / n : 0 }'; }

results="$work/results.txt"
: >"$results"
echo "bench-ampload: closed loop -t1 -c$CONNS ${DURATION_S}s on /1k.bin (lighttpd), $ROUNDS rounds; then open loop at $RATE req/s"
for round in $(seq 1 "$ROUNDS"); do
	# the order alternates from round to round
	for tool in $([ $((round % 2)) = 1 ] && echo "wrk amp" || echo "amp wrk"); do
		fresh
		if [ "$tool" = wrk ]; then
			cpu_run exp_wrk "$work/wrk-$round.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "$url"
			n=$(awk '/ requests in / { print $1 }' "$work/wrk-$round.txt")
			wg=$(usreq "$GEN_NS" "$n") ws=$(usreq "$SRV_NS" "$n")
		else
			cpu_run amp "$work/closed-$round" -m closed -t 1 -c "$CONNS" -d "$DURATION_S" -w 1 "$url"
			n=$(jnum "$work/closed-$round.json" 'd["requests"] + d["warmup_requests"]')
			ag=$(usreq "$GEN_NS" "$n") as=$(usreq "$SRV_NS" "$n")
		fi
		bench_stop || exp_die "lighttpd died during its run"
	done
	a=$(jnum "$work/closed-$round.json" 'd["throughput_rps"]')
	ae=$(jnum "$work/closed-$round.json" 'd["errors_total"]')
	ap99=$(jnum "$work/closed-$round.json" 'd["latency"]["p99_ms"]')
	printf 'round %d  wrk %10.0f req/s (p99 %7.3f ms, errors %d)   ampload %10.0f req/s (p99 %7.3f ms, errors %d)\n' \
		"$round" "$WRK_RPS" "$WRK_P99_MS" "$WRK_ERRORS" "$a" "$ap99" "$ae"
	printf '         CPU per request: wrk %6.2f us (lighttpd %6.2f us)          ampload %6.2f us (lighttpd %6.2f us)\n' \
		"$wg" "$ws" "$ag" "$as"
	echo "closed $round $WRK_RPS $a $wg $ws $ag $as" >>"$results"
done
for round in $(seq 1 "$ROUNDS"); do
	fresh
	amp "$work/open-$round" -m open -t 1 -r "$RATE" -c "$POOL" --max-conns "$POOL" -d "$DURATION_S" -w 1 "$url"
	s=$(jnum "$work/open-$round.json" 'd["sent_rps"]')
	x=$(jnum "$work/open-$round.json" 'd["throughput_rps"]')
	late=$(jnum "$work/open-$round.json" 'd["lateness"]["p50_ms"]')
	p99=$(jnum "$work/open-$round.json" 'd["latency"]["p99_ms"]')
	e=$(jnum "$work/open-$round.json" 'd["errors_total"] + d["unfinished"]')
	printf 'round %d  open %d req/s: sent %10.1f/s  answered %10.1f/s  p99 %9.3f ms  send lateness p50 %7.3f ms  errors %d\n' \
		"$round" "$RATE" "$s" "$x" "$p99" "$late" "$e"
	echo "open $round $s $x $late" >>"$results"
	bench_stop || exp_die "lighttpd died during its run"
done

w=$(awk '$1 == "closed" { print $3 }' "$results" | exp_median)
a=$(awk '$1 == "closed" { print $4 }' "$results" | exp_median)
s=$(awk '$1 == "open" { print $3 }' "$results" | exp_median)
x=$(awk '$1 == "open" { print $4 }' "$results" | exp_median)
l=$(awk '$1 == "open" { print $5 }' "$results" | exp_median)
# Each round runs wrk and ampload back to back, so their ratio within a
# round is the paired comparison; its median is robust to one disturbed
# run, which moves the median of each tool's own figures.
pr=$(awk '$1 == "closed" { print $4 / $3 }' "$results" | exp_median)
# range KIND COL: "min-max" of a column over the rounds
range() { awk -v k="$1" -v c="$2" '$1 == k { print $c }' "$results" | bench_stats | awk '{ printf "%.0f-%.0f", $2, $3 }'; }
prr=$(awk '$1 == "closed" { print $4 / $3 }' "$results" | bench_stats | awk '{ printf "%.3f-%.3f", $2, $3 }')
cpu=""
for f in 5 6 7 8; do cpu="$cpu $(awk -v f="$f" '$1 == "closed" { print $f }' "$results" | exp_median)"; done
echo
awk -v w="$w" -v a="$a" -v c="$CONNS" -v pr="$pr" -v ar="$(range closed 4)" -v wr="$(range closed 3)" \
	-v prr="$prr" 'BEGIN {
	printf "closed loop -t1 -c%d: ampload %.0f req/s (%s), wrk %.0f req/s (%s) (medians, min-max): %.3fx;\n",
		c, a, ar, w, wr, a / w
	printf "  median of the %s per-round ratios ampload/wrk: %.3fx (%s)  -> target >= 1.0x %s\n",
		"paired", pr, prr, (pr >= 1.0) ? "met" : "MISSED"
	printf "  (lighttpd on one CPU is the limit for both: at parity the generator is not)\n" }'
# shellcheck disable=SC2086
printf '  CPU per request (medians): wrk %.2f us, lighttpd serving it %.2f us; ampload %.2f us, lighttpd serving it %.2f us\n' $cpu
awk -v s="$s" -v x="$x" -v l="$l" -v t="$RATE" -v sr="$(range open 3)" -v xr="$(range open 4)" 'BEGIN {
	rs = s / t; rx = x / t
	ok = (rs >= 0.99 && rs <= 1.01)
	printf "open loop at %d req/s: ampload sent %.1f/s (%s; %.2f%%, median send lateness %.3f ms)  -> target within 1%% %s\n",
		t, s, sr, 100 * rs, l, ok ? "met" : "MISSED"
	printf "                        lighttpd answered %.1f/s (%s; %.2f%%)%s\n", x, xr, 100 * rx,
		(rx >= 0.99) ? "" : "  -> the server, not the generator, fell behind" }'
echo "raw results: $results"
