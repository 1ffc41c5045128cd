#!/bin/bash
# bench.sh — `make bench`'s primary figures (issue 18, issue 12 items 3-4):
# amped against its peers and against the floor, by the method of
# lib-bench.sh (order rotated every round, a fresh server per run, warm-up,
# server on CPU 0 and client on CPU 1, median and min-max over ROUNDS).
#
# 1. CPU time per request — the efficiency figure — at a fixed open-loop
#    rate (ampload, Poisson arrivals), summed from schedstat over every
#    thread and process of the server, for three workloads:
#      ka     1 KiB, keep-alive (a pool of 50 connections), RATE_KA req/s;
#      close  1 KiB, a new connection per request with "Connection: close",
#             RATE_CLOSE req/s;
#      big    100 KiB, keep-alive, RATE_BIG req/s.
#    Beside it: the rate answered, and req/s with a closed loop (wrk -t1
#    -c50), which on this machine often measures wrk, not the server.
#    Goals, as ratios of the medians: ka <= 0.8x the best peer and <= 1.05x
#    the floor; close and big <= 0.9x the best peer.
# 2. Latency under load: p50 and p99 of an open loop (1 KiB keep-alive) at
#    LOAD_PCTS percent of each server's capacity, the capacity being its
#    median closed-loop req/s of part 1 in this same run.
# 3. Memory per idle keep-alive connection: Pss of all the server's
#    processes with IDLE_CONNS idle connections, each after one request,
#    minus with none, / IDLE_CONNS.
# 4. Every core (issue 18 item 4): nothing pinned, so a server may use both
#    CPUs and the client shares them with it.  amped with one dispatcher
#    ("amped") and with N (--dispatchers N: "amped-dN"), nginx with N
#    workers ("nginx-wN"), h2o with N threads ("h2o-tN"): closed-loop req/s
#    (wrk -t2 -c100, 1 KiB keep-alive) and CPU time per request at
#    RATE_KA (open loop, 1 KiB keep-alive, ampload).  CORE_SERVERS.
# AMPED_BASELINE=/path/to/old/amped adds "amped-base" to every part, and
# part 1 prints amped/amped-base per round (paired) for the "within 2%" of a
# refactor.  Peers: lighttpd, nginx, h2o, one worker each (lib-exp.sh,
# lib-bench.sh); floor: build/floor, the physical limit of the loopback path.
#
# Environment: ROUNDS (3), DURATION_S (5), RATE_KA (40000), RATE_CLOSE
# (8000), RATE_BIG (5000), LOAD_PCTS ("50 80 95"), IDLE_CONNS (5000),
# SERVERS ("floor amped lighttpd nginx h2o"), PARTS ("cpu latency memory
# cores"), CORE_SERVERS ("amped amped-d2 nginx-w2 h2o-t2"; quick: "amped-d2"),
# WORKLOADS ("ka close big": part 1's),
# AMPED_BASELINE, BENCH_QUICK=1 (short runs, for the smoke test), BENCH_WORK
# (build/bench: raw results and logs, emptied first), EXP_NO_PIN=1.
# Exit status: 0 when every run worked (goals met or not), 1 when something
# failed, 2 on a bad setting.
set -eu
EXP_NAME=bench
# shellcheck source=scripts/lib-bench.sh
. "$(dirname "$0")/lib-bench.sh"

if [ "$BENCH_QUICK" = 1 ]; then
	ROUNDS=${ROUNDS:-1} DURATION_S=${DURATION_S:-1} IDLE_CONNS=${IDLE_CONNS:-200}
	RATE_KA=${RATE_KA:-5000} RATE_CLOSE=${RATE_CLOSE:-1000} RATE_BIG=${RATE_BIG:-1000}
else
	ROUNDS=${ROUNDS:-3} DURATION_S=${DURATION_S:-5} IDLE_CONNS=${IDLE_CONNS:-5000}
	RATE_KA=${RATE_KA:-40000} RATE_CLOSE=${RATE_CLOSE:-8000} RATE_BIG=${RATE_BIG:-5000}
fi
LOAD_PCTS=${LOAD_PCTS:-50 80 95}
SERVERS=${SERVERS:-floor amped lighttpd nginx h2o}
PARTS=${PARTS:-cpu latency memory cores}
if [ "$BENCH_QUICK" = 1 ]; then
	CORE_SERVERS=${CORE_SERVERS:-amped-d2}
else
	CORE_SERVERS=${CORE_SERVERS:-amped amped-d2 nginx-w2 h2o-t2}
fi
WORKLOADS=${WORKLOADS:-ka close big}
PEERS="lighttpd nginx h2o"
work=${BENCH_WORK:-$EXP_BUILD/bench}
BENCH_SITE="$work/site"

case "$ROUNDS$DURATION_S$RATE_KA$RATE_CLOSE$RATE_BIG$IDLE_CONNS" in
*[!0-9]*) exp_log "ROUNDS, DURATION_S, RATE_*, IDLE_CONNS must be whole numbers"; exit 2 ;;
esac
[ "$IDLE_CONNS" -le 15000 ] || { exp_log "IDLE_CONNS must be <= 15000 (RLIMIT_NOFILE is 20000)"; exit 2; }
if [ -n "$AMPED_BASELINE" ]; then
	[ -x "$AMPED_BASELINE" ] || { exp_log "AMPED_BASELINE=$AMPED_BASELINE is not an executable"; exit 2; }
	SERVERS="$SERVERS amped-base"
fi
[ -x "$AMPED_BIN" ] || exp_die "$AMPED_BIN is missing (run make)"
[ -x "$FLOOR_BIN" ] || exp_die "$FLOOR_BIN is missing (run make)"
[ -x "$AMPLOAD_BIN" ] || exp_die "$AMPLOAD_BIN is missing (run make)"
case " $SERVERS " in *" lighttpd "* | *" nginx "* | *" h2o "*)
	exp_install_peers || exp_die "cannot install the peers" ;;
esac
# only what this script made: BENCH_WORK may name a directory with more in it
rm -rf "$work/run"
mkdir -p "$work"
bench_site "$BENCH_SITE" 1024 102400

# bench_start_other NAME WORKDIR (called by bench_start): part 4's servers
# amped-dN (N dispatchers), nginx-wN (N workers), h2o-tN (N threads).
bench_start_other() {
	local n=${1##*-[dwt]} port
	case "$1" in
	amped-d[0-9]*)
		# shellcheck disable=SC2086
		exp_start_amped "$2/amped" --root "$BENCH_SITE" --port 0 --dispatchers "$n" \
			--keepalive-timeout-ms $((BENCH_IDLE_S * 1000)) ${BENCH_AMPED_ARGS:-} || return 1
		BENCH_PID=$AMPED_PID BENCH_BASE=$AMPED_URL ;;
	nginx-w[0-9]*)
		port=$(exp_free_port)
		exp_nginx_conf "$2/nginx.conf" "$2" "$BENCH_SITE" "$port"
		sed -i "s/^worker_processes 1;/worker_processes $n;/" "$2/nginx.conf"
		# shellcheck disable=SC2046
		exp_start_bg "$2/nginx.out" "$2/nginx.err" $(exp_pin 0) "$NGINX" -p "$2" -c "$2/nginx.conf"
		BENCH_PID=$EXP_LAST_PID BENCH_BASE="http://127.0.0.1:$port/" ;;
	h2o-t[0-9]*)
		port=$(exp_free_port)
		bench_h2o_conf "$2/h2o.conf" "$2" "$BENCH_SITE" "$port"
		sed -i "s/^num-threads: 1$/num-threads: $n/" "$2/h2o.conf"
		# shellcheck disable=SC2046
		exp_start_bg "$2/h2o.out" "$2/h2o.err" $(exp_pin 0) "$H2O" -c "$2/h2o.conf"
		BENCH_PID=$EXP_LAST_PID BENCH_BASE="http://127.0.0.1:$port/" ;;
	*) exp_log "unknown server $1"; return 1 ;;
	esac
}

# workload NAME: sets W_BYTES, W_MODE (keep|close), W_RATE
workload() {
	case "$1" in
	ka) W_BYTES=1024 W_MODE=keep W_RATE=$RATE_KA ;;
	close) W_BYTES=1024 W_MODE=close W_RATE=$RATE_CLOSE ;;
	big) W_BYTES=102400 W_MODE=keep W_RATE=$RATE_BIG ;;
	esac
}
label() { case "$1" in ka) echo "1 KiB keep-alive" ;; close) echo "1 KiB Connection: close" ;; big) echo "100 KiB keep-alive" ;; esac; }
# col FILE KEYS... COL: column COL of the lines of FILE starting with KEYS
col() {
	local f=$1 c=${!#}
	local keys="${*:2:$#-2}"
	awk -v k="$keys" -v c="$c" 'index($0, k " ") == 1 { print $c }' "$f"
}
# ms FILE KEYS... COL: "median (min-max)" of that column
spread() { col "$@" | bench_stats | awk '{ printf "%.2f (%.2f-%.2f)", $1, $2, $3 }'; }
med() { col "$@" | bench_stats | awk '{ print $1 }'; }

cpu=$work/cpu.txt lat=$work/latency.txt mem=$work/memory.txt
: >"$cpu"
: >"$lat"
: >"$mem"
echo "bench: shared machine? then these figures are noisy: read the spreads." \
	"Load average now: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs."
echo "bench: servers: $SERVERS; $ROUNDS rounds, order rotated every round, fresh server per run"

# ---- 1. CPU time per request -------------------------------------------------------
case " $PARTS " in *" cpu "*)
echo
echo "== CPU time per request at a fixed open-loop rate (ampload on CPU 1, server on CPU 0)"
w_i=0
for w in $WORKLOADS; do
	workload "$w"
	w_i=$((w_i + 1))
	for round in $(seq 1 "$ROUNDS"); do
		# shellcheck disable=SC2086
		for s in $(bench_rotate $((round + w_i)) $SERVERS); do
			bench_start "$s" "$work/run" "$W_BYTES" || exp_die "$s did not start"
			# the closed-loop run is the warm-up of the measured one
			bench_capacity "$work/run/$s-$w-$round-wrk.txt" "$BENCH_URL" "$W_MODE"
			bench_cpu_run "$work/run/$s-$w-$round" "$BENCH_PID" "$BENCH_URL" "$W_RATE" "$DURATION_S" "$W_MODE"
			bench_stop || exp_die "$s died during its run"
			printf '%-6s round %d %-10s %8.2f us/request  answered %9.1f/s of %d  errors %d unfinished %d   closed loop %9.0f req/s\n' \
				"$w" "$round" "$s" "$BENCH_CPU_US" "$BENCH_RPS" "$W_RATE" "$BENCH_ERRORS" "$BENCH_UNFINISHED" "$WRK_RPS"
			echo "$w $s $round $BENCH_CPU_US $BENCH_RPS $BENCH_ERRORS $WRK_RPS $BENCH_UNFINISHED" >>"$cpu"
		done
	done
done
echo
echo "CPU time per request, median (min-max) of $ROUNDS rounds, ${DURATION_S} s each; shared machine: noisy"
echo "(behind: rounds in which the server answered < 98% of the rate — its figure is then not at that rate)"
printf '%-32s %-10s %24s %12s %7s %7s %18s\n' workload server "CPU us/request" "answered/s" errors behind "closed-loop req/s"
for w in $WORKLOADS; do
	workload "$w"
	for s in $SERVERS; do
		printf '%-32s %-10s %24s %12.0f %7d %7d %18.0f\n' "$(label "$w") @$W_RATE/s" "$s" "$(spread "$cpu" "$w" "$s" 4)" \
			"$(med "$cpu" "$w" "$s" 5)" "$(col "$cpu" "$w" "$s" 6 | awk '{ e += $1 } END { print e + 0 }')" \
			"$(col "$cpu" "$w" "$s" 5 | awk -v r="$W_RATE" '$1 < 0.98 * r { n++ } END { print n + 0 }')" \
			"$(med "$cpu" "$w" "$s" 7)"
	done
done
echo
case " $SERVERS " in *" amped "*) echo "Goals (ratios of the median CPU time per request):" ;; esac
for w in $WORKLOADS; do
	case " $SERVERS " in *" amped "*) ;; *) continue ;; esac
	a=$(med "$cpu" "$w" amped 4)
	best="" bv=""
	for p in $PEERS; do
		case " $SERVERS " in *" $p "*) ;; *) continue ;; esac
		v=$(med "$cpu" "$w" "$p" 4)
		if [ -z "$bv" ] || awk -v v="$v" -v b="$bv" 'BEGIN { exit !(v < b) }'; then best=$p bv=$v; fi
	done
	target=0.9
	[ "$w" = ka ] && target=0.8
	if [ -n "$best" ]; then
		awk -v l="$(label "$w")" -v a="$a" -v b="$bv" -v p="$best" -v t="$target" 'BEGIN {
			r = a / b
			printf "  %-24s amped / best peer (%s) = %.2fx  -> goal <= %.2fx %s\n", l, p, r, t, (r <= t) ? "met" : "MISSED" }'
	fi
	case " $SERVERS " in *" floor "*)
		[ "$w" = ka ] && awk -v l="$(label "$w")" -v a="$a" -v f="$(med "$cpu" "$w" floor 4)" 'BEGIN {
			r = a / f
			printf "  %-24s amped / floor            = %.2fx  -> goal <= 1.05x %s\n", l, r, (r <= 1.05) ? "met" : "MISSED" }'
		;;
	esac
done
if [ -n "$AMPED_BASELINE" ]; then
	echo
	echo "amped against AMPED_BASELINE=$AMPED_BASELINE, CPU time per request, paired by round:"
	for w in $WORKLOADS; do
		awk -v w="$w" '$1 == w && ($2 == "amped" || $2 == "amped-base") { v[$2 " " $3] = $4; r[$3] = 1 }
			END { for (k in r) if (v["amped-base " k] > 0) print v["amped " k] / v["amped-base " k] }' "$cpu" |
			bench_stats | awk -v l="$(label "$w")" '{
			printf "  %-24s amped / amped-base = %.3fx (rounds %.3f-%.3f)  -> within 2%%: %s\n",
				l, $1, $2, $3, ($1 <= 1.02 && $1 >= 0.98) ? "yes" : ($1 < 0.98 ? "no, faster" : "NO, slower") }'
	done
fi
echo "raw: $cpu"
;;
esac

# ---- 2. latency at a share of capacity ---------------------------------------------
case " $PARTS " in *" latency "*)
echo
echo "== Latency of an open loop at ${LOAD_PCTS// /%, }% of each server's capacity (1 KiB keep-alive)"
for s in $SERVERS; do
	c=$(med "$cpu" ka "$s" 7)
	if [ -z "$c" ] || [ "$c" = nan ]; then	# part 1 skipped: measure it here
		bench_start "$s" "$work/run" 1024 || exp_die "$s did not start"
		bench_capacity "$work/run/$s-capacity.txt" "$BENCH_URL" keep
		bench_stop || exp_die "$s died during its run"
		c=$WRK_RPS
	fi
	echo "capacity $s $c" >>"$lat"
done
for round in $(seq 1 "$ROUNDS"); do
	# shellcheck disable=SC2086
	for s in $(bench_rotate "$round" $SERVERS); do
		cap=$(awk -v s="$s" '$1 == "capacity" && $2 == s { print $3 }' "$lat")
		# shellcheck disable=SC2086
		for pct in $(bench_rotate "$round" $LOAD_PCTS); do
			rate=$(awk -v c="$cap" -v p="$pct" 'BEGIN { printf "%d", c * p / 100 }')
			bench_start "$s" "$work/run" 1024 || exp_die "$s did not start"
			bench_ampload "$work/run/$s-lat-$pct-$round-warmup" "$BENCH_URL" "$rate" "$BENCH_WARMUP_S" keep ||
				exp_log "(the warm-up above failed; measuring anyway)"
			bench_ampload "$work/run/$s-lat-$pct-$round" "$BENCH_URL" "$rate" "$DURATION_S" keep
			bench_stop || exp_die "$s died during its run"
			printf 'round %d %-10s %3d%% = %7d/s  sent %9.1f/s  answered %9.1f/s  p50 %8.3f ms  p99 %8.3f ms  errors %d\n' \
				"$round" "$s" "$pct" "$rate" "$BENCH_SENT_RPS" "$BENCH_RPS" "$BENCH_P50_MS" "$BENCH_P99_MS" "$BENCH_ERRORS"
			echo "lat $s $pct $round $rate $BENCH_RPS $BENCH_P50_MS $BENCH_P99_MS $BENCH_ERRORS" >>"$lat"
		done
	done
done
echo
echo "Latency in ms, median (min-max) of $ROUNDS rounds; capacity = median closed-loop req/s (wrk -t1 -c50)"
printf '%-10s %10s' server capacity
for pct in $LOAD_PCTS; do printf ' | %3d%%: %-19s %-19s' "$pct" p50 p99; done
echo
for s in $SERVERS; do
	printf '%-10s %10.0f' "$s" "$(awk -v s="$s" '$1 == "capacity" && $2 == s { print $3 }' "$lat")"
	for pct in $LOAD_PCTS; do
		printf ' |       %-19s %-19s' "$(spread "$lat" lat "$s" "$pct" 7)" "$(spread "$lat" lat "$s" "$pct" 8)"
	done
	echo
done
echo "raw: $lat"
;;
esac

# ---- 3. memory per idle connection -------------------------------------------------
case " $PARTS " in *" memory "*)
echo
echo "== Memory per idle keep-alive connection: Pss with $IDLE_CONNS idle connections minus with none"
for round in $(seq 1 "$ROUNDS"); do
	# shellcheck disable=SC2086
	for s in $(bench_rotate "$round" $SERVERS); do
		bench_start "$s" "$work/run" 1024 || exp_die "$s did not start"
		bench_idle_bytes "$work/run/$s-idle-$round" "$BENCH_PID" "$IDLE_CONNS" || exp_die "$s: idle connections failed"
		bench_stop || exp_die "$s died during its run"
		printf 'round %d %-10s %8d bytes per idle connection (%d of %d still open when counted)\n' \
			"$round" "$s" "$BENCH_IDLE_BYTES" "$BENCH_IDLE_ALIVE" "$IDLE_CONNS"
		echo "$s $round $BENCH_IDLE_BYTES $BENCH_IDLE_ALIVE" >>"$mem"
	done
done
echo
echo "Bytes per idle keep-alive connection, median (min-max) of $ROUNDS rounds, $IDLE_CONNS connections"
for s in $SERVERS; do
	col "$mem" "$s" 3 | bench_stats | awk -v s="$s" '{ printf "  %-10s %8.0f (%.0f-%.0f)\n", s, $1, $2, $3 }'
done
echo "raw: $mem"
;;
esac
# ---- 4. every core -------------------------------------------------------------------
case " $PARTS " in *" cores "*)
echo
echo "== Every core: nothing pinned, the client shares the CPUs with the server (1 KiB keep-alive)"
case " $CORE_SERVERS " in *" nginx-w"* | *" h2o-t"*)
	exp_install_peers || exp_die "cannot install the peers" ;;
esac
cores=$work/cores.txt
: >"$cores"
no_pin_was=${EXP_NO_PIN:-0}
EXP_NO_PIN=1
for round in $(seq 1 "$ROUNDS"); do
	# shellcheck disable=SC2086
	for s in $(bench_rotate "$round" $CORE_SERVERS); do
		bench_start "$s" "$work/run" 1024 || exp_die "$s did not start"
		# the closed-loop run is the warm-up of the measured one
		exp_wrk "$work/run/$s-cores-$round-wrk.txt" -t2 -c100 -d"${BENCH_CAP_S}s" "$BENCH_URL" ||
			exp_die "$s: wrk failed"
		bench_cpu_run "$work/run/$s-cores-$round" "$BENCH_PID" "$BENCH_URL" "$RATE_KA" "$DURATION_S" keep
		bench_stop || exp_die "$s died during its run"
		printf 'cores  round %d %-10s %8.2f us/request  answered %9.1f/s of %d  errors %d   closed loop (wrk -t2 -c100) %9.0f req/s\n' \
			"$round" "$s" "$BENCH_CPU_US" "$BENCH_RPS" "$RATE_KA" "$BENCH_ERRORS" "$WRK_RPS"
		echo "cores $s $round $BENCH_CPU_US $BENCH_RPS $BENCH_ERRORS $WRK_RPS" >>"$cores"
	done
done
EXP_NO_PIN=$no_pin_was
echo
echo "Every core, median (min-max) of $ROUNDS rounds; unpinned, client on the same CPUs; shared machine: noisy"
printf '%-10s %26s %12s %7s %30s\n' server "CPU us/request @$RATE_KA/s" "answered/s" errors "closed-loop req/s (wrk -t2)"
for s in $CORE_SERVERS; do
	printf '%-10s %26s %12.0f %7d %30s\n' "$s" "$(spread "$cores" cores "$s" 4)" "$(med "$cores" cores "$s" 5)" \
		"$(col "$cores" cores "$s" 6 | awk '{ e += $1 } END { print e + 0 }')" \
		"$(col "$cores" cores "$s" 7 | bench_stats | awk '{ printf "%.0f (%.0f-%.0f)", $1, $2, $3 }')"
done
case " $CORE_SERVERS " in *" amped "*)
	for s in $CORE_SERVERS; do
		case "$s" in amped-d*) ;; *) continue ;; esac
		awk -v s="$s" -v r1="$(med "$cores" cores amped 7)" -v rn="$(med "$cores" cores "$s" 7)" \
			-v c1="$(med "$cores" cores amped 4)" -v cn="$(med "$cores" cores "$s" 4)" 'BEGIN {
			printf "  %s / amped: req/s %.2fx, CPU time per request %.2fx\n", s, rn / r1, cn / c1 }'
	done ;;
esac
echo "raw: $cores"
;;
esac

echo
echo "bench: load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
