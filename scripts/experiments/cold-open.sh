#!/bin/bash
# cold-open.sh — experiment 4: cold data under an open loop, and the same
# data under a closed loop for contrast (Flash, Pai et al. 1999; the lesson
# of docs: a closed loop hides a blocking event loop).
#
# FILES files of 100 KB sit behind slowfs (every read waits LATENCY_US behind
# one modelled disk arm).  90% of requests go to 100 hot files, 10% to the
# others; one connection per request.  For every server and arrival rate:
# a fresh slowfs mount, a fresh server, caches dropped and the hot files read
# once through the mount (steady state: hot set cached), then ampload replays
# a Poisson trace at that rate (open loop); the first second is warm-up.
# The closed loop: CLOSED_CONNS users, no think time, the same URL mix.
# One more run per server at the reference rate carries `ampstat top` and
# `ampstat blocked` (their BPF costs CPU, so those runs are not in the
# table): the per-role shares say why a server's latency is what it is.
#
# Usage: scripts/experiments/cold-open.sh      (QUICK=1: a reduced run)
# Environment: SERVERS (every amped model, nginx, nginx-aio), RATES,
#   DURATION (measured s), FILES, LATENCY_US (8000), CLOSED_CONNS (64),
#   REPS.  Output: build/experiments/cold-open/.  Needs root.
# Exit status: 0 ok, 1 runtime error, 2 usage error.
set -eu
# shellcheck source=scripts/lib-lab.sh
. "$(dirname "$0")/../lib-lab.sh"
[ $# -eq 0 ] || { echo "usage: [QUICK=1] $0" >&2; exit 2; }
lab_init cold-open

if [ "$QUICK" = 1 ]; then
	SERVERS=${SERVERS:-amped sped}
	RATES=${RATES:-200 700}
	DURATION=${DURATION:-2}
	FILES=${FILES:-1000}
else
	SERVERS=${SERVERS:-$(lab_models) $(LAB_PEERS="nginx nginx-aio" lab_peers)}
	RATES=${RATES:-150 400 700 900}
	DURATION=${DURATION:-4}
	FILES=${FILES:-3000}
fi
LATENCY_US=${LATENCY_US:-8000}
CLOSED_CONNS=${CLOSED_CONNS:-64}
HOT_FILES=100
HOT_PCT=90
# The reference rate (the design brief's 700/s, or the highest one run).
RREF=$(echo "$RATES" | tr ' ' '\n' | awk '$1 <= 700' | sort -n | tail -n1)
[ -n "$RREF" ] || RREF=$(echo "$RATES" | tr ' ' '\n' | sort -n | head -n1)
command -v fusermount3 >/dev/null || exp_die "fusermount3 is missing (scripts/deps.sh)"

site="$EXP_BUILD/lab-site-$FILES"
mnt="$LAB_OUT/mnt"
"$EXP_ROOT/scripts/gen-site.sh" "$site" --files "$FILES" --size 102400 --seed 1 >/dev/null

# One Poisson trace per rate (CLF: whole-second stamps; ampload spreads a
# second's arrivals over that second) and one path sequence for the closed
# loop, all from fixed seeds, so every server sees the same requests.
"$PY" - "$LAB_OUT" "$FILES" "$HOT_FILES" "$HOT_PCT" "$DURATION" $RATES <<'EOF'
import random, sys, time
out, files, hot, hot_pct, dur = sys.argv[1], *map(int, sys.argv[2:6])
def paths(rng, n):
    for _ in range(n):
        i = rng.randrange(hot) if rng.random() * 100 < hot_pct else hot + rng.randrange(files - hot)
        yield "/f%05d.bin" % i
base = 1577934245
for rate in map(int, sys.argv[6:]):
    rng, arr = random.Random(rate), random.Random(rate + 1)
    t, secs, lines = 0.0, dur + 1, []
    while True:
        t += arr.expovariate(rate)
        if t >= secs:
            break
        lines.append((int(t), next(paths(rng, 1))))
    with open("%s/trace-%d.clf" % (out, rate), "w") as f:
        for s, p in lines:
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(base + s))
            f.write('127.0.0.1 - - [%s] "GET %s HTTP/1.1" 200 0\n' % (stamp, p))
with open("%s/trace-closed.clf" % out, "w") as f:
    for p in paths(random.Random(7), 200000):
        f.write('127.0.0.1 - - [02/Jan/2020:03:04:05 +0000] "GET %s HTTP/1.1" 200 0\n' % p)
EOF

lab_testbed "servers=$SERVERS" "rates=$RATES /s" "duration=${DURATION} s measured + 1 s warm-up" \
	"files=$FILES x 100 KB, ${HOT_PCT}% to $HOT_FILES hot" "slowfs=${LATENCY_US} us per read, depth 1" \
	"closed loop=$CLOSED_CONNS users" "connections=one per request"

hot_paths=()
for i in $(seq 0 $((HOT_FILES - 1))); do hot_paths+=("$mnt/$(printf 'f%05d.bin' "$i")"); done
raw="$LAB_OUT/raw.csv"
echo "loop,server,rate,rep,$("$PY" "$LAB" row --header)" >"$raw"

# run_one LOOP SERVER RATE REP [diag]: one cold run; appends a row to raw.csv.
run_one() {
	local loop=$1 server=$2 rate=$3 rep=$4 diag=${5:-} tag json
	tag="$loop-$server-$rate-$rep${diag:+-diag}"
	json="$LAB_OUT/json/$tag.json"
	mkdir -p "$LAB_OUT/json" "$LAB_OUT/ampstat"
	lab_mount_slowfs "$site" "$mnt" "$LATENCY_US" "$LAB_OUT/run/slowfs"
	lab_start "$server" "$mnt" || exp_die "$server did not start"
	exp_drop_caches || true
	# The hot set is read once through the mount (the page cache keeps it),
	# so a run measures steady state: hot files cached, the rest cold.
	cat "${hot_paths[@]}" >/dev/null
	if [ -n "$diag" ]; then
		lab_ampstat_start "$LAB_PID" "$(lab_event_loop_pid "$server")" "$LAB_OUT/ampstat/$server" $((DURATION + 1))
	fi
	if [ "$loop" = open ]; then
		lab_ampload "$json" -m open --trace "$LAB_OUT/trace-$rate.clf" --conn-per-request \
			-w 1 -d "$DURATION" \
			--timeout 10000 "http://127.0.0.1:$LAB_PORT/" || exp_die "ampload failed against $server"
	else
		lab_ampload "$json" -m closed -c "$CLOSED_CONNS" --trace "$LAB_OUT/trace-closed.clf" \
			--conn-per-request -w 1 -d "$DURATION" --timeout 10000 \
			"http://127.0.0.1:$LAB_PORT/" || exp_die "ampload failed against $server"
	fi
	[ -n "$diag" ] && lab_ampstat_wait
	kill -0 "$LAB_PID" 2>/dev/null || exp_die "$server died during the run"
	lab_stop
	exp_unmount_slowfs "$mnt"
	[ -n "$diag" ] && return 0
	echo "$loop,$server,$rate,$rep,$("$PY" "$LAB" row "$json")" >>"$raw"
	exp_log "$tag: $(tail -n1 "$raw" | cut -d, -f5-)"
}

for rep in $(seq 1 "$REPS"); do
	for rate in $(lab_rotate "$rep" $RATES); do
		for server in $(lab_rotate "$rep" $SERVERS); do
			run_one open "$server" "$rate" "$rep"
		done
	done
	for server in $(lab_rotate "$rep" $SERVERS); do
		run_one closed "$server" 0 "$rep"
	done
done
for server in $SERVERS; do
	run_one open "$server" "$RREF" 0 diag
done

"$PY" "$EXP_ROOT/scripts/experiments/cold-open.py" "$LAB_OUT" "$RREF" "$SERVERS" \
	"$CLOSED_CONNS" "$LATENCY_US" || exp_die "analysis failed"
lab_finish
