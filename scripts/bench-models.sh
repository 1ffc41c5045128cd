#!/bin/bash
# bench-models.sh — every concurrency model of amped on cached data (issue 3),
# run by `make bench` after bench.sh.
#
# For each model (amped amted sped symped mp mt, and uring ult seda hybrid
# when the binary has them) and for the peers lighttpd, nginx and h2o (one worker each):
#   - requests/s on a cached 1 KiB file,
#   - body MB/s on a cached 100 KiB file,
# with wrk -t1 -cCONNS for DURATION_S seconds after a warm-up, every server
# pinned to CPU 0 and wrk to CPU 1: one CPU for the server whatever its
# model, as in the Flash paper's single-CPU runs.  ROUNDS rounds, the order
# rotated every round and every server started fresh for its run
# (lib-bench.sh); the table gives the median, its min-max and ratios to
# AMPED.  Then Flash's ablation on the 1 KiB file: amped and sped with each
# cache off (--no-path-cache, --no-map-cache, --no-header-cache) and with
# all three off, as ratios to the same model with every cache on, in the
# same rounds.
#
# Each run also gives the server's CPU time per request (schedstat of all
# its threads and child processes, summed over the run); servers' order
# rotates every round.
# Environment: ROUNDS (3), DURATION_S (4), CONNS (50), WORKERS (64: mp/mt
# workers; symped gets 2 processes), EXP_NO_PIN=1; MODELS (amped's models
# to run, amped among them), PEERS (lighttpd nginx h2o), ABLATE_BASES (amped
# sped: the models of the cache ablation; empty: none).
# Exit status: 0 when every server ran, 1 when something failed.
set -eu
EXP_NAME=bench-models
# shellcheck source=scripts/lib-exp.sh
# shellcheck source=scripts/lib-bench.sh
. "$(dirname "$0")/lib-bench.sh"

ROUNDS=${ROUNDS:-3}
DURATION_S=${DURATION_S:-4}
CONNS=${CONNS:-50}
WORKERS=${WORKERS:-64}
work="$EXP_BUILD/bench-models"
BENCH_SITE="$work/site"
small=1024
big=102400

[ -x "$AMPED_BIN" ] || exp_die "$AMPED_BIN is missing (run make)"
exp_install_peers || exp_die "cannot install the peers"
mkdir -p "$work"
bench_site "$BENCH_SITE" "$small" "$big"

models="amped amted sped symped mp mt"
for m in uring ult seda hybrid; do
	"$AMPED_BIN" --help 2>&1 | grep -qE "^ +$m " && models="$models $m"
done
models=${MODELS:-$models}
case " $models " in *" amped "*) ;; *) exp_die "MODELS must include amped (the reference)" ;; esac

# bench_start_other NAME WORKDIR (called by bench_start): the model NAME,
# or BASE-no-X: model BASE with --no-X (no-caches: all three off).
bench_start_other() {
	local base=${1%%-no-*} args=()
	case "$1" in
	*-no-caches) args=(--no-path-cache --no-map-cache --no-header-cache) ;;
	*-no-*) args=("--${1#"$base"-}") ;;
	esac
	case "$base" in
	symped) args+=(--workers 2) ;;
	mp | mt) args+=(--workers "$WORKERS") ;;
	esac
	exp_start_amped "$2/amped" --root "$BENCH_SITE" --port 0 --model "$base" "${args[@]}" || return 1
	# shellcheck disable=SC2034  # read by bench_start
	BENCH_PID=$AMPED_PID BENCH_BASE=$AMPED_URL
}

servers="$models ${PEERS-lighttpd nginx h2o}"
ablations="no-path-cache no-map-cache no-header-cache no-caches"
ablate_bases=${ABLATE_BASES-amped sped}
abl_servers=""
for base in $ablate_bases; do for a in $ablations; do abl_servers="$abl_servers $base-$a"; done; done

results="$work/results.txt"
: >"$results"
n_runs=$(( ROUNDS * ($(echo "$servers" | wc -w) * 2 + $(echo "$abl_servers" | wc -w)) ))
echo "bench-models: wrk -t1 -c$CONNS -d${DURATION_S}s, $ROUNDS rounds (order rotated, fresh server per run)," \
	"about $((n_runs * (DURATION_S + 3)))s"
# run NAME BYTES ROUND: one fresh server, warm-up, measured run
run() {
	bench_start "$1" "$work/run" "$2" || exp_die "$1 did not start"
	local c0 c1 n us
	c0=$(bench_cpu_ns "$BENCH_PID")
	bench_wrk "$work/run/wrk-$1-$2-$3.txt" "$DURATION_S" "$BENCH_URL" -c"$CONNS"
	c1=$(bench_cpu_ns "$BENCH_PID")
	n=$(awk '/requests in/ { print $1 }' "$work/run/wrk-$1-$2-$3.txt")
	us=$(awk -v c="$((c1 - c0))" -v n="${n:-0}" 'BEGIN { printf "%.2f", (n > 0 ? c / n / 1000 : 0) }')
	bench_stop || exp_die "$1 died during its run"
	printf 'round %d %7s B %-24s %10.0f req/s %8s us/req  errors %d\n' "$3" "$2" "$1" "$WRK_RPS" "$us" "$WRK_ERRORS"
	echo "$1 $2 $3 $WRK_RPS $WRK_ERRORS $us" >>"$results"
}
for round in $(seq 1 "$ROUNDS"); do
	for f in $small $big; do
		# shellcheck disable=SC2086
		for s in $(bench_rotate "$round" $servers); do run "$s" "$f" "$round"; done
	done
	# The ablation compares against the all-caches runs of the same round.
	# shellcheck disable=SC2086
	for s in $(bench_rotate "$round" $abl_servers); do run "$s" "$small" "$round"; done
done

med() { awk -v s="$1" -v f="$2" '$1 == s && $2 == f { print $4 }' "$results" | exp_median; }
# spread NAME BYTES SCALE: "median (min-max)" of req/s * SCALE
spread() { awk -v s="$1" -v f="$2" -v k="$3" '$1 == s && $2 == f { print $4 * k }' "$results" | bench_stats |
	awk '{ printf (($1 >= 100) ? "%.0f (%.0f-%.0f)" : "%.1f (%.1f-%.1f)"), $1, $2, $3 }'; }
medcpu() { awk -v s="$1" -v f="$2" '$1 == s && $2 == f { print $6 }' "$results" | exp_median; }
errs() { awk -v s="$1" '$1 == s { e += $5 } END { print e + 0 }' "$results"; }

a_small=$(med amped $small)
a_big=$(med amped $big)
echo
printf 'cached data, median (min-max) of %d rounds, wrk -t1 -c%d -d%ss, server on one CPU\n' "$ROUNDS" "$CONNS" "$DURATION_S"
a_cpu=$(medcpu amped $small)
printf '(CPU/req: schedstat on-CPU time of the server'"'"'s threads and child processes over the run / requests)\n'
printf '%-10s %28s %8s %11s %8s %24s %8s %8s\n' server "1 KiB req/s" "/amped" "CPU us/req" "/amped" "100 KiB MB/s" "/amped" errors
for s in $servers; do
	awk -v s="$s" -v r="$(med "$s" $small)" -v b="$(med "$s" $big)" -v rs="$(spread "$s" $small 1)" \
		-v bs="$(spread "$s" $big "$(awk -v b=$big 'BEGIN { print b / 1e6 }')")" \
		-v c="$(medcpu "$s" $small)" -v ac="$a_cpu" \
		-v ar="$a_small" -v ab="$a_big" -v e="$(errs "$s")" 'BEGIN {
		printf "%-10s %28s %7.2fx %11.2f %7.2fx %24s %7.2fx %8d\n", s, rs, r / ar, c, (ac > 0 ? c / ac : 0), bs, b / ab, e
	}'
done
if [ -n "$ablate_bases" ]; then
	echo
	echo "Flash's ablation: 1 KiB file, requests/s relative to the same model with every cache (medians)"
	printf '%-8s' model
	for a in $ablations; do printf ' %16s' "$a"; done
	echo
	for base in $ablate_bases; do
		full=$(med "$base" $small)
		printf '%-8s' "$base"
		for a in $ablations; do
			awk -v r="$(med "$base-$a" $small)" -v f="$full" 'BEGIN { printf " %15.2fx", r / f }'
		done
		echo
	done
fi
echo "raw results: $results"
