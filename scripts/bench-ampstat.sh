#!/bin/bash
# bench-ampstat.sh — what `ampstat top` and `ampstat latency` cost the
# server they watch.
#
# amped (--model amped, pinned to CPU 0) serves a cached 1 KiB file to
# wrk -t1 -c50 (pinned to CPU 1) for DURATION_S seconds, PAIRS times with
# ampstat top detached and attached, interleaved (the order alternates from
# pair to pair), because throughput alone swings about ±20% between runs on
# these machines.  Every run gets a fresh amped, warmed up by a short wrk
# run (lib-bench.sh).  For each attached run it also takes, over ampstat's
# own window: the BPF run time of its programs (bpf_stats, from ampstat's
# summary) and amped's CPU time (ampstat's on-CPU total of the server's
# threads, and schedstat of every thread of the server and its helpers as
# a cross-check).
#
# Reports the median req/s detached and attached (with min-max), the median of the
# per-pair ratios attached/detached (target >= 97%), and the median BPF run time as % of amped's CPU time (target
# <= 3%).
#
# Then the same for `ampstat latency` (one USDT hit per request plus
# sched_switch of the serving threads): PAIRS more interleaved pairs, its
# BPF run time against amped's CPU time by schedstat over its window
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
# shellcheck source=scripts/lib-bench.sh
. "$(dirname "$0")/lib-bench.sh"

PAIRS=${PAIRS:-5}
MODES=${MODES:-top latency}
LAT_SAMPLES=${LAT_SAMPLES:-auto 1}
DURATION_S=${DURATION_S:-10}
CONNS=${CONNS:-50}
AMPSTAT=$EXP_BUILD/ampstat
work="$EXP_BUILD/bench-ampstat"
BENCH_SITE="$work/site"

[ "$(id -u)" -eq 0 ] || exp_die "needs root (ampstat loads BPF programs)"
[ -x "$AMPSTAT" ] || exp_die "$AMPSTAT is missing (run make)"
command -v wrk >/dev/null || exp_die "wrk is not installed"
mkdir -p "$work"
bench_site "$BENCH_SITE" 1024

# fresh: a new amped (--model amped), warmed up (caches, connections, CPU
# frequency); its pid in AMPED_PID, the 1 KiB file's URL in url
fresh() {
	bench_start amped "$work/run" 1024 || exp_die "amped did not start"
	AMPED_PID=$BENCH_PID url=$BENCH_URL
	exp_wrk "$work/run/warmup.txt" -t1 -c"$CONNS" -d1s "$url"
}

results="$work/results.txt"
: >"$results"
echo "bench-ampstat: wrk -t1 -c$CONNS -d${DURATION_S}s on a 1 KiB file, $PAIRS interleaved pairs" \
	"(detached, attached); about $((PAIRS * 2 * (DURATION_S + 3)))s"
# run_detached PAIR RESULTS: wrk alone, its req/s as "off PAIR R" in RESULTS
run_detached() {
	fresh
	exp_wrk "$work/wrk-off-$(basename "$2" .txt)-$1.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "$url"
	bench_stop || exp_die "amped died during its run"
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
}
run_attached() {
	local t0 t1 line
	fresh
	t0=$(bench_cpu_ns "$AMPED_PID")
	# one report at the end: ampstat wakes up once, not every second
	as_attach "$work/ampstat-$1.json" "$work/ampstat-$1.err" top -p "$AMPED_PID" -i 3600 --json --no-pin
	exp_wrk "$work/wrk-on-$1.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "$url"
	as_detach "$work/ampstat-$1.err"
	t1=$(bench_cpu_ns "$AMPED_PID")
	bench_stop || exp_die "amped died during its run"
	line=$(tail -n 1 "$work/ampstat-$1.json" | python3 -c '
import json, sys
s = json.load(sys.stdin)
b = s["bpf"]
print(b["run_ns"], b["target_cpu_ns"], s["duration_s"])')
	read -r bpf_ns cpu_ns dur_s <<<"$line"
	awk -v p="$1" -v r="$WRK_RPS" -v b="$bpf_ns" -v c="$cpu_ns" -v d="$dur_s" \
		-v sn=$((t1 - t0)) 'BEGIN {
		printf "pair %d attached %10.0f req/s  bpf %.1f ms = %.2f%% of amped CPU " \
			"(%.0f ms by ampstat, %.0f ms by schedstat, window %.1f s)\n",
			p, r, b / 1e6, 100 * b / c, c / 1e6, sn / 1e6, d }'
	echo "on $1 $WRK_RPS $bpf_ns $cpu_ns $((t1 - t0))" >>"$results"
}
# paired FILE: the median over pairs of attached/detached req/s.  The two
# runs of a pair are back to back, so the ratio within a pair is the
# paired comparison, robust to a disturbed pair that moves the median of
# either side's own figures.
ratios() {
	awk '{ v[$1 " " $2] = $3; n[$2] = 1 } END {
		for (p in n) if (v["on " p] && v["off " p]) print v["on " p] / v["off " p] }' "$1"
}
paired() { ratios "$1" | exp_median; }
# paired_range FILE: "min-max" of the per-pair ratios, in %
paired_range() { ratios "$1" | bench_stats | awk '{ printf "%.1f-%.1f%%", 100 * $2, 100 * $3 }'; }
# range FILE on|off: "min-max" req/s
range() { awk -v k="$2" '$1 == k { print $3 }' "$1" | bench_stats | awk '{ printf "%.0f-%.0f", $2, $3 }'; }
case " $MODES " in *" top "*)
interleave run_attached run_detached "$results"

off=$(awk '$1 == "off" { print $3 }' "$results" | exp_median)
on=$(awk '$1 == "on" { print $3 }' "$results" | exp_median)
bpf=$(awk '$1 == "on" { print 100 * $4 / $5 }' "$results" | exp_median)
bpf_sched=$(awk '$1 == "on" && $6 > 0 { print 100 * $4 / $6 }' "$results" | exp_median)
pr=$(paired "$results")
echo
printf 'median of %d pairs, wrk -t1 -c%d -d%ss, 1 KiB file, amped --model amped\n' \
	"$PAIRS" "$CONNS" "$DURATION_S"
awk -v off="$off" -v on="$on" -v bpf="$bpf" -v bt="$bpf_sched" -v pr="$pr" -v offr="$(range "$results" off)" \
	-v onr="$(range "$results" on)" -v prr="$(paired_range "$results")" 'BEGIN {
	printf "ampstat top detached: %10.0f req/s (%s)\n", off, offr
	printf "ampstat top attached: %10.0f req/s (%s) = %.1f%% of detached (medians, min-max)\n", on, onr, 100 * on / off
	printf "median of the per-pair ratios attached/detached: %.1f%% (%s)  -> target >= 97%% %s\n",
		100 * pr, prr, (pr >= 0.97) ? "met" : "MISSED"
	printf "BPF run time:         %.2f%% of amped CPU time (%.2f%% by schedstat)  -> target <= 3%% %s\n",
		bpf, bt, (bpf <= 3) ? "met" : "MISSED"
}'
echo "raw results: $results"
;;
esac

# ---- ampstat latency: the same pairs, its own results file
run_latency() {
	local t0 t1 line
	fresh
	t0=$(bench_cpu_ns "$AMPED_PID")
	as_attach "$work/latency-$LAT_SAMPLE-$1.json" "$work/latency-$LAT_SAMPLE-$1.err" \
		latency -p "$AMPED_PID" --json --sample "$LAT_SAMPLE"
	exp_wrk "$work/wrk-lat-$1.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "$url"
	as_detach "$work/latency-$LAT_SAMPLE-$1.err"
	t1=$(bench_cpu_ns "$AMPED_PID")
	bench_stop || exp_die "amped died during its run"
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
	bpf_sched=$(awk '$1 == "on" && $6 > 0 { print 100 * $4 / $6 }' "$lat_results" | exp_median)
	pr=$(paired "$lat_results")
	echo
	printf 'median of %d pairs, wrk -t1 -c%d -d%ss, 1 KiB file, amped --model amped, ampstat latency --sample %s\n' \
		"$PAIRS" "$CONNS" "$DURATION_S" "$LAT_SAMPLE"
	awk -v off="$off" -v on="$on" -v bpf="$bpf" -v bs="$bpf_sched" -v pr="$pr" \
		-v offr="$(range "$lat_results" off)" -v onr="$(range "$lat_results" on)" \
		-v prr="$(paired_range "$lat_results")" 'BEGIN {
		printf "ampstat latency detached: %10.0f req/s (%s)\n", off, offr
		printf "ampstat latency attached: %10.0f req/s (%s) = %.1f%% of detached (medians, min-max)\n",
			on, onr, 100 * on / off
		printf "median of the per-pair ratios attached/detached: %.1f%% (%s)  -> target >= 95%% %s\n",
			100 * pr, prr, (pr >= 0.95) ? "met" : "MISSED"
		printf "BPF run time:             %.2f%% of amped CPU time (/proc ticks; %.2f%% by schedstat)  -> target <= 5%% %s\n",
			bpf, bs, (bpf <= 5) ? "met" : "MISSED"
	}'
	echo "raw results: $lat_results"
	done
;;
esac
