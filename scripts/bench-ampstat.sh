#!/bin/bash
# bench-ampstat.sh — what `ampstat top` and `ampstat latency` cost the
# server they watch.
#
# amped (--model amped, pinned to CPU 0) serves a cached 1 KiB file to
# wrk -t1 -c50 (pinned to CPU 1) for DURATION_S seconds, PAIRS times with
# ampstat top detached and attached, interleaved (the order alternates from
# pair to pair), because throughput alone swings about ±20% between runs on
# these machines.  For each attached run it also takes, over ampstat's own
# window: the BPF run time of its programs (bpf_stats, from ampstat's
# summary) and amped's CPU time (ampstat's on-CPU total of the server's
# threads, and /proc utime+stime of the server and its helpers as a
# tick-based cross-check).
#
# Reports the median req/s detached and attached, the median of the
# per-pair ratios attached/detached (target >= 97%), and the median BPF run time as % of amped's CPU time (target
# <= 3%).
#
# Then the same for `ampstat latency` (one USDT hit per request plus
# sched_switch of the serving threads): PAIRS more interleaved pairs, its
# BPF run time against amped's CPU time by /proc ticks over its window
# (targets: >= 95% of detached throughput, <= 5% BPF time), once for
# each of LAT_SAMPLES: auto is ampstat's default (every request below
# 4,000 requests/s, 1 in N above: the targets are for it), 1 is every
# request at any rate (exact counts), N fires the probe for 1 request in N.
# Environment: PAIRS (5), DURATION_S (10), CONNS (50), MODES ("top
# latency": which commands to measure), LAT_SAMPLES ("auto 1"), EXP_NO_PIN=1
# to disable pinning.
# Needs root (BPF).
# Exit status: 0 when every run worked (whether or not the targets were
# met), 1 when something failed.
set -eu
EXP_NAME=bench-ampstat
# shellcheck source=scripts/lib-exp.sh
. "$(dirname "$0")/lib-exp.sh"

PAIRS=${PAIRS:-5}
MODES=${MODES:-top latency}
LAT_SAMPLES=${LAT_SAMPLES:-auto 1}
DURATION_S=${DURATION_S:-10}
CONNS=${CONNS:-50}
AMPSTAT=$EXP_BUILD/ampstat
site="$EXP_BUILD/demo-site"
work="$EXP_BUILD/bench-ampstat"
file=1k.bin

[ "$(id -u)" -eq 0 ] || exp_die "needs root (ampstat loads BPF programs)"
[ -x "$AMPSTAT" ] || exp_die "$AMPSTAT is missing (run make)"
command -v wrk >/dev/null || exp_die "wrk is not installed"
mkdir -p "$work"
"$EXP_ROOT/scripts/gen-site.sh" "$site" --files 20 --size 102400 --seed 1

exp_start_amped "$work/amped" --root "$site" --port 0 --model amped
url="$AMPED_URL$file"
exp_wait_http "$url" 5000 || exp_die "amped did not start"
exp_check_body "$url" "$site/$file" || exp_die "amped serves wrong bytes"
# warm up: caches, connections, CPU frequency
exp_wrk "$work/warmup.txt" -t1 -c"$CONNS" -d2s "$url"

# cpu_ticks: utime+stime of amped and its children, in clock ticks
cpu_ticks() {
	local p t=0 f
	for p in "$AMPED_PID" $(pgrep -P "$AMPED_PID" || true); do
		f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		# fields after the comm: state=1 ... utime=12 stime=13
		t=$((t + $(echo "$f" | awk '{ print $12 + $13 }')))
	done
	echo "$t"
}
hz=$(getconf CLK_TCK)

results="$work/results.txt"
: >"$results"
echo "bench-ampstat: wrk -t1 -c$CONNS -d${DURATION_S}s on /$file, $PAIRS interleaved pairs" \
	"(detached, attached); about $((PAIRS * 2 * (DURATION_S + 2)))s"
# run_detached PAIR RESULTS: wrk alone, its req/s as "off PAIR R" in RESULTS
run_detached() {
	exp_wrk "$work/wrk-off-$(basename "$2" .txt)-$1.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "$url"
	printf 'pair %d detached %10.0f req/s\n' "$1" "$WRK_RPS"
	echo "off $1 $WRK_RPS" >>"$2"
}
# as_attach OUT ERR ARGS...: start `ampstat ARGS` in the background (stdout
# to OUT, stderr to ERR, emptied first so no line of an earlier run is
# taken as ours) and wait until it says it traces; its pid in AS_BG
as_attach() {
	local out=$1 err=$2 i
	shift 2
	: >"$err"
	exp_start_bg "$out" "$err" "$AMPSTAT" "$@"
	AS_BG=$EXP_LAST_PID
	for i in $(seq 1 250); do
		grep -q 'tracing pid' "$err" && return 0
		kill -0 "$AS_BG" 2>/dev/null || break
		sleep 0.02
	done
	exp_die "ampstat $1 did not attach: $(cat "$err")"
}
# as_detach ERR: SIGINT to AS_BG, which must end well
as_detach() {
	kill -INT "$AS_BG"
	wait "$AS_BG" || exp_die "ampstat failed (see $1)"
	exp_forget_pid "$AS_BG"
}
# interleave ON OFF RESULTS: PAIRS pairs of `ON PAIR` and `OFF PAIR RESULTS`,
# the order alternating from pair to pair
interleave() {
	local pair
	for pair in $(seq 1 "$PAIRS"); do
		if [ $((pair % 2)) = 1 ]; then
			"$2" "$pair" "$3"; "$1" "$pair"
		else
			"$1" "$pair"; "$2" "$pair" "$3"
		fi
	done
	kill -0 "$AMPED_PID" 2>/dev/null || exp_die "amped died during the benchmark"
}
run_attached() {
	local t0 t1 line
	t0=$(cpu_ticks)
	# one report at the end: ampstat wakes up once, not every second
	as_attach "$work/ampstat-$1.json" "$work/ampstat-$1.err" top -p "$AMPED_PID" -i 3600 --json --no-pin
	exp_wrk "$work/wrk-on-$1.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "$url"
	as_detach "$work/ampstat-$1.err"
	t1=$(cpu_ticks)
	line=$(tail -n 1 "$work/ampstat-$1.json" | python3 -c '
import json, sys
s = json.load(sys.stdin)
b = s["bpf"]
print(b["run_ns"], b["target_cpu_ns"], s["duration_s"])')
	read -r bpf_ns cpu_ns dur_s <<<"$line"
	awk -v p="$1" -v r="$WRK_RPS" -v b="$bpf_ns" -v c="$cpu_ns" -v d="$dur_s" \
		-v tk=$((t1 - t0)) -v hz="$hz" 'BEGIN {
		printf "pair %d attached %10.0f req/s  bpf %.1f ms = %.2f%% of amped CPU " \
			"(%.0f ms by ampstat, %.0f ms by /proc ticks, window %.1f s)\n",
			p, r, b / 1e6, 100 * b / c, c / 1e6, 1000 * tk / hz, d }'
	echo "on $1 $WRK_RPS $bpf_ns $cpu_ns $((t1 - t0))" >>"$results"
}
# paired FILE: the median over pairs of attached/detached req/s.  The two
# runs of a pair are back to back, so the ratio within a pair is the
# paired comparison, robust to a disturbed pair that moves the median of
# either side's own figures.
paired() {
	awk '{ v[$1 " " $2] = $3; n[$2] = 1 } END {
		for (p in n) if (v["on " p] && v["off " p]) print v["on " p] / v["off " p] }' "$1" | exp_median
}
case " $MODES " in *" top "*)
interleave run_attached run_detached "$results"

off=$(awk '$1 == "off" { print $3 }' "$results" | exp_median)
on=$(awk '$1 == "on" { print $3 }' "$results" | exp_median)
bpf=$(awk '$1 == "on" { print 100 * $4 / $5 }' "$results" | exp_median)
bpf_ticks=$(awk -v hz="$hz" '$1 == "on" && $6 > 0 { print 100 * $4 / ($6 * 1e9 / hz) }' "$results" | exp_median)
pr=$(paired "$results")
echo
printf 'median of %d pairs, wrk -t1 -c%d -d%ss, 1 KiB file, amped --model amped\n' \
	"$PAIRS" "$CONNS" "$DURATION_S"
awk -v off="$off" -v on="$on" -v bpf="$bpf" -v bt="$bpf_ticks" -v pr="$pr" 'BEGIN {
	printf "ampstat top detached: %10.0f req/s\n", off
	printf "ampstat top attached: %10.0f req/s  = %.1f%% of detached (medians)\n", on, 100 * on / off
	printf "median of the per-pair ratios attached/detached: %.1f%%  -> target >= 97%% %s\n",
		100 * pr, (pr >= 0.97) ? "met" : "MISSED"
	printf "BPF run time:         %.2f%% of amped CPU time (%.2f%% by /proc ticks)  -> target <= 3%% %s\n",
		bpf, bt, (bpf <= 3) ? "met" : "MISSED"
}'
echo "raw results: $results"
;;
esac

# ---- ampstat latency: the same pairs, its own results file
run_latency() {
	local t0 t1 line
	t0=$(cpu_ticks)
	as_attach "$work/latency-$LAT_SAMPLE-$1.json" "$work/latency-$LAT_SAMPLE-$1.err" \
		latency -p "$AMPED_PID" --json --sample "$LAT_SAMPLE"
	exp_wrk "$work/wrk-lat-$1.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "$url"
	as_detach "$work/latency-$LAT_SAMPLE-$1.err"
	t1=$(cpu_ticks)
	line=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
b = s["bpf"]
print(b["run_ns"], b["target_cpu_ns"], s["duration_s"], s["requests"], s["latency_ns"]["p50"], s["latency_ns"]["p99"], s.get("sample", 1))' \
		"$work/latency-$LAT_SAMPLE-$1.json")
	read -r bpf_ns cpu_ns dur_s nreq p50 p99 nsamp <<<"$line"
	awk -v p="$1" -v r="$WRK_RPS" -v b="$bpf_ns" -v c="$cpu_ns" -v d="$dur_s" -v n="$nreq" \
		-v p50="$p50" -v p99="$p99" -v ns="$nsamp" 'BEGIN {
		printf "pair %d latency  %10.0f req/s  bpf %.1f ms = %.2f%% of amped CPU " \
			"(%.0f ms by /proc ticks, window %.1f s; %d requests, 1 in up to %d traced, " \
			"p50 %.0f us, p99 %.0f us)\n",
			p, r, b / 1e6, c ? 100 * b / c : 0, c / 1e6, d, n, ns, p50 / 1e3, p99 / 1e3 }'
	echo "on $1 $WRK_RPS $bpf_ns $cpu_ns $((t1 - t0))" >>"$lat_results"
}
case " $MODES " in *" latency "*)
	for LAT_SAMPLE in $LAT_SAMPLES; do
	lat_results="$work/results-latency-$LAT_SAMPLE.txt"
	: >"$lat_results"
	echo
	echo "bench-ampstat: ampstat latency --sample $LAT_SAMPLE, $PAIRS interleaved pairs (detached, attached)"
	interleave run_latency run_detached "$lat_results"
	off=$(awk '$1 == "off" { print $3 }' "$lat_results" | exp_median)
	on=$(awk '$1 == "on" { print $3 }' "$lat_results" | exp_median)
	bpf=$(awk '$1 == "on" && $5 > 0 { print 100 * $4 / $5 }' "$lat_results" | exp_median)
	pr=$(paired "$lat_results")
	echo
	printf 'median of %d pairs, wrk -t1 -c%d -d%ss, 1 KiB file, amped --model amped, ampstat latency --sample %s\n' \
		"$PAIRS" "$CONNS" "$DURATION_S" "$LAT_SAMPLE"
	awk -v off="$off" -v on="$on" -v bpf="$bpf" -v pr="$pr" 'BEGIN {
		printf "ampstat latency detached: %10.0f req/s\n", off
		printf "ampstat latency attached: %10.0f req/s  = %.1f%% of detached (medians)\n", on, 100 * on / off
		printf "median of the per-pair ratios attached/detached: %.1f%%  -> target >= 95%% %s\n",
			100 * pr, (pr >= 0.95) ? "met" : "MISSED"
		printf "BPF run time:             %.2f%% of amped CPU time (/proc ticks)  -> target <= 5%% %s\n",
			bpf, (bpf <= 5) ? "met" : "MISSED"
	}'
	echo "raw results: $lat_results"
	done
;;
esac
