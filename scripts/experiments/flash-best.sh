#!/bin/bash
# flash-best.sh — experiment 1: Flash's best case (Pai et al. 1999, Figs. 6-7):
# one cached file requested over and over, one request per connection;
# bandwidth and connection rate vs file size, per amped model and the peers
# (nginx, lighttpd, h2o, one worker each).
#
# For every server, size and repetition: a fresh server pinned to CPU 0; a
# closed loop of CONNS users on CPU 1 (ampload, one connection per request,
# no think time, the first WARMUP_S excluded), which keeps the server busy.
# The server's CPU time over the run (schedstat of all its threads and
# processes) per request is the figure a saturated client cannot distort;
# the generator's own CPU time says when it, not the server, was the limit.
#
# Usage: scripts/experiments/flash-best.sh     (QUICK=1: a reduced run)
# Environment: SERVERS (every amped model, nginx, lighttpd, h2o), SIZES_KB,
#   DURATION (measured s), CONNS (32), REPS.
# Output: build/experiments/flash-best/.  Needs root.
# Exit status: 0 ok, 1 runtime error, 2 usage error.
set -eu
# shellcheck source=scripts/lib-lab.sh
. "$(dirname "$0")/../lib-lab.sh"
lab_init flash-best "$@"

if [ "$QUICK" = 1 ]; then
	SERVERS=${SERVERS:-amped sped mt nginx}
	SIZES_KB=${SIZES_KB:-1 20 200}
	DURATION=${DURATION:-1}
else
	SERVERS=${SERVERS:-$(lab_models) $(LAB_PEERS="nginx lighttpd h2o" lab_peers)}
	SIZES_KB=${SIZES_KB:-0.5 1 2 5 10 20 50 100 200}
	DURATION=${DURATION:-1.5}
fi
CONNS=${CONNS:-32}
WARMUP_S=${WARMUP_S:-0.5}

site="$EXP_BUILD/lab-site-best"
lab_site "$site"
for kb in $SIZES_KB; do
	f="$site/s$kb.bin"
	bytes=$(awk -v k="$kb" 'BEGIN { printf "%d", k * 1024 }')
	[ "$(stat -c %s "$f" 2>/dev/null || echo -1)" = "$bytes" ] || head -c "$bytes" /dev/urandom >"$f"
done

lab_testbed "servers=$SERVERS" "sizes=$SIZES_KB KiB" "duration=${DURATION} s measured + ${WARMUP_S} s warm-up" \
	"load=closed loop, $CONNS users, one connection per request, no think time"

raw="$LAB_OUT/raw.csv"
echo "server,size_kb,rep,$LAB_CPU_HEADER" >"$raw"
mkdir -p "$LAB_OUT/json"

run_one() {
	local server=$1 kb=$2 rep=$3
	lab_cpu_run "$server" "$site" "" "$LAB_OUT/json/$server-$kb-$rep.json" "/s$kb.bin" \
		-m closed -c "$CONNS" --conn-per-request -w "$WARMUP_S" -d "$DURATION" --timeout 10000
	echo "$server,$kb,$rep,$LAB_CPU_FIELDS" >>"$raw"
	exp_log "$server $kb KiB #$rep: $(tail -n1 "$raw" | cut -d, -f4-7)"
}

for rep in $(seq 1 "$REPS"); do
	for kb in $(lab_rotate "$rep" $SIZES_KB); do
		for server in $(lab_rotate "$rep" $SERVERS); do
			run_one "$server" "$kb" "$rep"
		done
	done
done

"$PY" "$EXP_ROOT/scripts/experiments/flash-best.py" "$LAB_OUT" "$SERVERS" "$CONNS" || exp_die "analysis failed"
lab_finish
