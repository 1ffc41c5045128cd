#!/bin/bash
# bench.sh — `make bench`: amped against its peers on a cached 1 KiB file.
#
# Servers: amped (--model amped, no access log), lighttpd and nginx (one worker
# each, access log off, sendfile, large keep-alive limits, our own configs in
# build/bench/ on 127.0.0.1 high ports), and amped --model sped for contrast.
# Load: wrk -t1 -c50 for DURATION_S seconds, with keep-alive and with
# "Connection: close".  Throughput swings about ±20% from run to run on these
# machines, so ROUNDS rounds each run every server once (interleaved) and the
# table shows the median.  Servers are pinned to CPU 0, wrk to CPU 1.
#
# Environment: ROUNDS (3), DURATION_S (10), CONNS (50), NGINX_PORT (18081),
# LIGHTTPD_PORT (18082), EXP_NO_PIN=1 to disable pinning.
# Exit status: 0 when every server ran (whether or not amped reached its
# target), 1 when something failed.
set -eu
EXP_NAME=bench
# shellcheck source=scripts/lib-exp.sh
. "$(dirname "$0")/lib-exp.sh"

ROUNDS=${ROUNDS:-3}
DURATION_S=${DURATION_S:-10}
CONNS=${CONNS:-50}
NGINX_PORT=${NGINX_PORT:-18081}
LIGHTTPD_PORT=${LIGHTTPD_PORT:-18082}
site="$EXP_BUILD/demo-site"
work="$EXP_BUILD/bench"
file=1k.bin

[ -x "$AMPED_BIN" ] || exp_die "$AMPED_BIN is missing (run make)"

exp_install_peers || exp_die "cannot install the peers"
for port in "$NGINX_PORT" "$LIGHTTPD_PORT"; do
	exp_port_free "$port" || exp_die "set NGINX_PORT / LIGHTTPD_PORT"
done

mkdir -p "$work"
"$EXP_ROOT/scripts/gen-site.sh" "$site" --files 20 --size 102400 --seed 1

# --- start every server once; they stay up (idle) between their runs ---------
declare -A URL PID
exp_start_amped "$work/amped" --root "$site" --port 0 --model amped
URL[amped]=$AMPED_URL
PID[amped]=$AMPED_PID
exp_start_amped "$work/sped" --root "$site" --port 0 --model sped
URL[sped]=$AMPED_URL
PID[sped]=$AMPED_PID
exp_start_nginx "$work" "$site" "$NGINX_PORT"
PID[nginx]=$EXP_LAST_PID
URL[nginx]="http://127.0.0.1:$NGINX_PORT/"
exp_start_lighttpd "$work" "$site" "$LIGHTTPD_PORT"
PID[lighttpd]=$EXP_LAST_PID
URL[lighttpd]="http://127.0.0.1:$LIGHTTPD_PORT/"

servers="amped lighttpd nginx sped"
for s in $servers; do
	if ! exp_wait_http "${URL[$s]}$file" 5000; then
		sed 's/^/    /' "$work/$s.err" >&2 || true
		exp_die "$s did not start"
	fi
	exp_check_body "${URL[$s]}$file" "$site/$file" || exp_die "$s serves wrong bytes"
done

# --- interleaved rounds --------------------------------------------------------
results="$work/results.txt"
: >"$results"
echo "bench: wrk -t1 -c$CONNS -d${DURATION_S}s on /$file, $ROUNDS interleaved rounds" \
	"(keep-alive and Connection: close); about $((ROUNDS * 8 * (DURATION_S + 1)))s"
for round in $(seq 1 "$ROUNDS"); do
	for mode in keepalive close; do
		hdr=()
		[ "$mode" = close ] && hdr=(-H "Connection: close")
		for s in $servers; do
			exp_wrk "$work/wrk-$s-$mode-$round.txt" -t1 -c"$CONNS" -d"${DURATION_S}s" \
				"${hdr[@]}" "${URL[$s]}$file"
			printf 'round %d %-9s %-8s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  errors %d\n' \
				"$round" "$mode" "$s" "$WRK_RPS" "$WRK_P50_MS" "$WRK_P99_MS" "$WRK_ERRORS"
			echo "$s $mode $round $WRK_RPS $WRK_P50_MS $WRK_P99_MS $WRK_ERRORS" >>"$results"
		done
	done
done

for s in $servers; do
	kill -0 "${PID[$s]}" 2>/dev/null || exp_die "$s died during the benchmark"
done

# --- table -----------------------------------------------------------------------
med() { awk -v s="$1" -v m="$2" -v c="$3" '$1 == s && $2 == m { print $c }' "$results" | exp_median; }
range() { awk -v s="$1" -v m="$2" '$1 == s && $2 == m { print $4 }' "$results" | sort -g |
	awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f-%.0f", lo, hi }'; }
errs() { awk -v s="$1" -v m="$2" '$1 == s && $2 == m { e += $7 } END { print e + 0 }' "$results"; }

echo
printf 'median of %d rounds, wrk -t1 -c%d -d%ss, 1 KiB file\n' "$ROUNDS" "$CONNS" "$DURATION_S"
printf '%-9s %12s %15s %9s %12s %15s %9s\n' server "keep-alive/s" "(range)" "p99 ms" "close/s" "(range)" "errors"
for s in $servers; do
	printf '%-9s %12.0f %15s %9.3f %12.0f %15s %9s\n' "$s" \
		"$(med "$s" keepalive 4)" "$(range "$s" keepalive)" "$(med "$s" keepalive 6)" \
		"$(med "$s" close 4)" "$(range "$s" close)" \
		"$(errs "$s" keepalive)/$(errs "$s" close)"
done
echo
for mode in keepalive close; do
	a=$(med amped "$mode" 4)
	n=$(med nginx "$mode" 4)
	l=$(med lighttpd "$mode" 4)
	awk -v mode="$mode" -v a="$a" -v n="$n" -v l="$l" 'BEGIN {
		peer = (n >= l) ? "nginx" : "lighttpd"; p = (n >= l) ? n : l
		r = a / p
		printf "amped / %s (faster peer), %-9s: %.2fx  -> target >= 1.0x %s\n",
			peer, mode, r, (r >= 1.0) ? "met" : "MISSED"
	}'
done
echo "raw results: $results"
