#!/bin/bash
# bench-models.sh — every concurrency model of amped on cached data (issue 3),
# run by `make bench` after bench.sh.
#
# For each model (amped amted sped symped mp mt, and uring ult seda hybrid
# when the binary has them) and for nginx and lighttpd (one worker each, see lib-exp.sh):
#   - requests/s on a cached 1 KiB file,
#   - body MB/s on a cached 100 KiB file,
# with wrk -t1 -cCONNS for DURATION_S seconds, ROUNDS interleaved rounds
# (median), every server pinned to CPU 0 and wrk to CPU 1: one CPU for the
# server whatever its model, as in the Flash paper's single-CPU runs.  The
# table gives ratios to AMPED.  Then Flash's ablation on the 1 KiB file:
# amped and sped with each cache off (--no-path-cache, --no-map-cache,
# --no-header-cache) and with all three off, as ratios to the same model
# with every cache on.
#
# Each run also gives the server's CPU time per request (schedstat of all
# its threads and child processes, summed over the run); servers' order
# rotates every round.
# Environment: ROUNDS (3), DURATION_S (4), CONNS (50), WORKERS (64: mp/mt
# workers; symped gets 2 processes), NGINX_PORT (18083), LIGHTTPD_PORT
# (18084), EXP_NO_PIN=1; MODELS (amped's models to run, amped among them),
# PEERS ("nginx lighttpd"; "" for none), ABLATE (1; 0 skips the ablation).
# Exit status: 0 when every server ran, 1 when something failed.
set -eu
EXP_NAME=bench-models
# shellcheck source=scripts/lib-exp.sh
. "$(dirname "$0")/lib-exp.sh"

ROUNDS=${ROUNDS:-3}
DURATION_S=${DURATION_S:-4}
CONNS=${CONNS:-50}
WORKERS=${WORKERS:-64}
NGINX_PORT=${NGINX_PORT:-18083}
PEERS=${PEERS-nginx lighttpd}
ABLATE=${ABLATE:-1}
LIGHTTPD_PORT=${LIGHTTPD_PORT:-18084}
site="$EXP_BUILD/demo-site"
work="$EXP_BUILD/bench-models"
small=1k.bin
big=f00000.bin
big_bytes=102400

[ -x "$AMPED_BIN" ] || exp_die "$AMPED_BIN is missing (run make)"
[ -z "$PEERS" ] || exp_install_peers || exp_die "cannot install the peers"
exp_port_free "$NGINX_PORT" || exp_die "set NGINX_PORT"
exp_port_free "$LIGHTTPD_PORT" || exp_die "set LIGHTTPD_PORT"
mkdir -p "$work"
"$EXP_ROOT/scripts/gen-site.sh" "$site" --files 20 --size "$big_bytes" --seed 1

models="amped amted sped symped mp mt"
for m in uring ult seda hybrid; do
	"$AMPED_BIN" --help 2>&1 | grep -qE "^ +$m " && models="$models $m"
done
models=${MODELS:-$models}
case " $models " in *" amped "*) ;; *) exp_die "MODELS must include amped (the reference)" ;; esac

declare -A URL PID
# start NAME ARGS...: an amped server under NAME.
start() {
	local name=$1
	shift
	exp_start_amped "$work/$name" --root "$site" --port 0 "$@"
	URL[$name]=$AMPED_URL
	PID[$name]=$AMPED_PID
}
for m in $models; do
	case "$m" in
	symped) start "$m" --model "$m" --workers 2 ;;
	mp | mt) start "$m" --model "$m" --workers "$WORKERS" ;;
	*) start "$m" --model "$m" ;;
	esac
done
case " $PEERS " in *" nginx "*)
	exp_start_nginx "$work" "$site" "$NGINX_PORT"
	PID[nginx]=$EXP_LAST_PID
	URL[nginx]="http://127.0.0.1:$NGINX_PORT/" ;;
esac
case " $PEERS " in *" lighttpd "*)
	exp_start_lighttpd "$work" "$site" "$LIGHTTPD_PORT"
	PID[lighttpd]=$EXP_LAST_PID
	URL[lighttpd]="http://127.0.0.1:$LIGHTTPD_PORT/" ;;
esac
ablations="no-path-cache no-map-cache no-header-cache no-caches"
ablate_bases="amped sped"
[ "$ABLATE" = 1 ] || ablate_bases=""
for base in $ablate_bases; do
	for a in $ablations; do
		if [ "$a" = no-caches ]; then
			start "$base-$a" --model "$base" --no-path-cache --no-map-cache --no-header-cache
		else
			start "$base-$a" --model "$base" "--$a"
		fi
	done
done

servers="$models $PEERS"
abl_servers=""
for base in $ablate_bases; do for a in $ablations; do abl_servers="$abl_servers $base-$a"; done; done
for s in $servers $abl_servers; do
	if ! exp_wait_http "${URL[$s]}$small" 5000; then
		sed 's/^/    /' "$work/$s.err" >&2 2>/dev/null || true
		exp_die "$s did not start"
	fi
	exp_check_body "${URL[$s]}$small" "$site/$small" || exp_die "$s serves wrong bytes"
	exp_check_body "${URL[$s]}$big" "$site/$big" || exp_die "$s serves wrong bytes"
done

results="$work/results.txt"
: >"$results"
n_runs=$(( ROUNDS * ($(echo $servers | wc -w) * 2 + $(echo $abl_servers | wc -w)) ))
echo "bench-models: wrk -t1 -c$CONNS -d${DURATION_S}s, $ROUNDS interleaved rounds, about $((n_runs * (DURATION_S + 1)))s"
for round in $(seq 1 "$ROUNDS"); do
	for f in $small $big; do
		# rotate the servers' order every round
		order=$(echo $servers | awk -v k="$((round - 1))" '{ for (i = 0; i < NF; i++) printf "%s ", $(((i + k) % NF) + 1) }')
		for s in $order; do
			c0=$(exp_cpu_ns "${PID[$s]}")
			exp_wrk "$work/wrk-$s-$f-$round.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "${URL[$s]}$f"
			c1=$(exp_cpu_ns "${PID[$s]}")
			n=$(awk '/requests in/ { print $1 }' "$work/wrk-$s-$f-$round.txt")
			us=$(awk -v c="$((c1 - c0))" -v n="$n" 'BEGIN { printf "%.2f", (n > 0 ? c / n / 1000 : 0) }')
			printf 'round %d %-10s %-9s %10.0f req/s  %7s us/req  errors %d\n' "$round" "$f" "$s" "$WRK_RPS" "$us" "$WRK_ERRORS"
			echo "$s $f $round $WRK_RPS $WRK_ERRORS $us" >>"$results"
		done
	done
	# The ablation compares against the all-caches run of the same round.
	for s in $abl_servers; do
		exp_wrk "$work/wrk-$s-$small-$round.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" "${URL[$s]}$small"
		printf 'round %d %-10s %-24s %10.0f req/s  errors %d\n' "$round" "$small" "$s" "$WRK_RPS" "$WRK_ERRORS"
		echo "$s $small $round $WRK_RPS $WRK_ERRORS" >>"$results"
	done
done
for s in $servers $abl_servers; do
	kill -0 "${PID[$s]}" 2>/dev/null || exp_die "$s died during the benchmark"
done

med() { awk -v s="$1" -v f="$2" '$1 == s && $2 == f { print $4 }' "$results" | exp_median; }
medcpu() { awk -v s="$1" -v f="$2" '$1 == s && $2 == f { print $6 }' "$results" | exp_median; }
errs() { awk -v s="$1" '$1 == s { e += $5 } END { print e + 0 }' "$results"; }

a_small=$(med amped $small)
a_big=$(med amped $big)
echo
a_cpu=$(medcpu amped $small)
printf 'cached data, median of %d rounds, wrk -t1 -c%d -d%ss, server on one CPU\n' "$ROUNDS" "$CONNS" "$DURATION_S"
printf '(CPU/req: the server'"'"'s threads'"'"' on-CPU time from schedstat over the run / requests)\n'
printf '%-10s %12s %8s %12s %8s %14s %8s %8s\n' server "1 KiB req/s" "/amped" "CPU us/req" "/amped" "100 KiB MB/s" "/amped" errors
for s in $servers; do
	r=$(med "$s" $small)
	b=$(med "$s" $big)
	c=$(medcpu "$s" $small)
	awk -v s="$s" -v r="$r" -v b="$b" -v c="$c" -v ar="$a_small" -v ab="$a_big" -v ac="$a_cpu" -v bb="$big_bytes" -v e="$(errs "$s")" 'BEGIN {
		printf "%-10s %12.0f %7.2fx %12.2f %7.2fx %14.1f %7.2fx %8d\n", s, r, r / ar, c, c / ac, b * bb / 1e6, b / ab, e
	}'
done
[ -n "$ablate_bases" ] && {
echo
echo "Flash's ablation: 1 KiB file, requests/s relative to the same model with every cache"
printf '%-8s' model
for a in $ablations; do printf ' %16s' "$a"; done
echo
}
for base in $ablate_bases; do
	full=$(med "$base" $small)
	printf '%-8s' "$base"
	for a in $ablations; do
		awk -v r="$(med "$base-$a" $small)" -v f="$full" 'BEGIN { printf " %15.2fx", r / f }'
	done
	echo
done
echo "raw results: $results"
