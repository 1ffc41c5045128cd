#!/bin/bash
# open-closed.sh — experiment 5: "Open Versus Closed: A Cautionary Tale"
# (Schroeder, Wierman, Harchol-Balter, NSDI 2006), Figs. 2 and 5 analogs.
#
# Part 1, open vs closed (Fig. 2): the server is build/tests/qserver, whose
# service time we set: one FCFS queue, exponential service of mean QS_US
# (1 ms), run in virtual time so its own scheduling noise does not change
# the queueing (ampload's tests use it against M/M/1 theory).  For each
# target load rho: an open system (Poisson arrivals at rho / E[S]) and
# closed systems of MPL users with exponential think time of mean
# MPL * E[S] / rho.  The M/M/1 curve E[S] / (1 - rho) is drawn beside.
#
# Part 2, FCFS vs SRPT (Fig. 5): amped's SPED model with --sched fcfs or
# srpt, on one CPU, serving cached files whose sizes are heavy-tailed
# (bounded Pareto, alpha ALPHA, 4 KiB to 4 MiB).  Its caches are off
# (--no-path-cache --no-map-cache --no-header-cache): that adds work on the
# server's side only, so that the server and not the generator (whose cost
# per response on loopback is about the server's own) is the bottleneck on
# this 2-CPU machine.  E[S] = 1 / the throughput of 32 closed users without
# think time; open: Poisson arrivals at rho / E[S] over a pool of 64-256
# keep-alive connections; closed: the smallest MPL, as above.
# The x axis is the load carried (throughput x E[S]); the y axis ampload's
# mean response time.
#
# Part 3, partly open (Fig. 8's question): qserver again, at the highest
# target load.  Sessions arrive as a Poisson process; a session sends a
# request, waits for the response, thinks (exponential, mean PO_THINK_MS)
# and sends another with probability p (PRETURNS), so it makes 1 / (1 - p)
# requests on average.  The session rate is load / E[S] x (1 - p), so the
# request rate, and the load, stay the same for every p.  p = 0 is the open
# system; the longer the sessions, the more arrivals wait on completions,
# as in a closed system.
#
# Usage: scripts/experiments/open-closed.sh    (QUICK=1: a reduced run)
# Environment: LOADS, MPLS, DURATION, QS_US, ALPHA, FILES, MODEL (sped), REPS,
#   PRETURNS, PO_THINK_MS (5).
# Output: build/experiments/open-closed/.  Needs root.
# Exit status: 0 ok, 1 runtime error, 2 usage error.
set -eu
# shellcheck source=scripts/lib-lab.sh
. "$(dirname "$0")/../lib-lab.sh"
lab_init open-closed "$@"

if [ "$QUICK" = 1 ]; then
	LOADS=${LOADS:-0.5 0.85}
	MPLS=${MPLS:-5}
	PRETURNS=${PRETURNS:-0 0.9}
	DURATION=${DURATION:-1.5}
	WARMUP_S=${WARMUP_S:-0.5}
else
	LOADS=${LOADS:-0.3 0.5 0.7 0.9}
	MPLS=${MPLS:-5 50}
	PRETURNS=${PRETURNS:-0 0.5 0.8 0.9 0.95}
	DURATION=${DURATION:-3}
fi
WARMUP_S=${WARMUP_S:-1}
QS_US=${QS_US:-1000}
PO_THINK_MS=${PO_THINK_MS:-5}
QSERVER=${QSERVER:-$EXP_BUILD/tests/qserver}
[ -x "$QSERVER" ] || exp_die "$QSERVER is missing (run make all)"
ALPHA=${ALPHA:-1.1}
FILES=${FILES:-200}
MODEL=${MODEL:-sped}
SERVER_FLAGS=${SERVER_FLAGS---no-path-cache --no-map-cache --no-header-cache}
lab_is_model "$MODEL" || exp_die "$MODEL is not an amped model"

site="$EXP_BUILD/lab-site-ht"
"$PY" - "$site" "$FILES" "$ALPHA" <<'EOF'
import os, random, sys
site, n, alpha = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
lo, hi = 4096, 4 << 20
rng = random.Random(5)
os.makedirs(site, exist_ok=True)
with open(os.path.join(site, "index.html"), "w") as f:
    f.write("<html><body>lab</body></html>\n")
lines = []
for i in range(n):
    # bounded Pareto by inversion
    u = rng.random()
    x = lo / (1 - u * (1 - (lo / hi) ** alpha)) ** (1 / alpha)
    size, name = int(x), "h%04d.bin" % i
    path = os.path.join(site, name)
    if not os.path.exists(path) or os.path.getsize(path) != size:
        with open(path, "wb") as f:
            f.write(rng.randbytes(size))
    lines.append("%s %d" % (name, size))
with open(os.path.join(site, "manifest.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
EOF
manifest="$site/manifest.txt"

# start_qserver: qserver on a free port, pinned to CPU 0; LAB_PID, LAB_PORT.
start_qserver() {
	local i line=""
	rm -f "$LAB_OUT/run/qserver.out"
	# shellcheck disable=SC2046
	exp_start_bg "$LAB_OUT/run/qserver.out" "$LAB_OUT/run/qserver.err" $(exp_pin 0) \
		"$QSERVER" --port 0 --dist exp --mean-us "$QS_US" --seed "$rep"
	LAB_PID=$EXP_LAST_PID
	for i in $(seq 1 100); do
		line=$(head -n1 "$LAB_OUT/run/qserver.out" 2>/dev/null || true)
		case "$line" in *"listening on"*) break ;; esac
		sleep 0.05
	done
	LAB_PORT=$(printf '%s\n' "$line" | sed -n 's|.*127.0.0.1:\([0-9]*\)/.*|\1|p')
	[ -n "$LAB_PORT" ] || exp_die "qserver did not start: $(cat "$LAB_OUT/run/qserver.err")"
}
mean_kb=$(awk '{ s += $2 } END { printf "%.1f", s / NR / 1024 }' "$manifest")

raw="$LAB_OUT/raw.csv"
echo "loop,mpl,sched,load_target,rep,server_cpu_ns,wall_s,$("$PY" "$LAB" row --header)" >"$raw"
mkdir -p "$LAB_OUT/json"

# run_one LOOP MPL SCHED LOAD REP AMPLOAD-ARGS...: one run, fresh server:
# qserver for SCHED mm1, else amped with --sched SCHED.
run_one() {
	local loop=$1 mpl=$2 sched=$3 load=$4 rep=$5 json c0 c1 t0 t1 url fs=()
	shift 5
	json="$LAB_OUT/json/$loop-$mpl-$sched-$load-$rep.json"
	if [ "$sched" = mm1 ]; then
		start_qserver
		url="http://127.0.0.1:$LAB_PORT/"
	else
		lab_start "$MODEL" "$site" --sched "$sched" $SERVER_FLAGS || exp_die "$MODEL did not start"
		# Every file once (one curl, one connection), so all are cached
		# before the clock starts.
		awk -v p="$LAB_PORT" '{ printf "url = \"http://127.0.0.1:%s/%s\"\noutput = \"/dev/null\"\n", p, $1 }' \
			"$manifest" | curl -s -m 30 -K -
		url="http://127.0.0.1:$LAB_PORT/"
		fs=(--fileset "$manifest" --zipf 0)
	fi
	c0=$(lab_cpu_ns "$LAB_PID")
	t0=$(date +%s%N)
	lab_ampload "$json" "${fs[@]}" -w "$WARMUP_S" -d "$DURATION" --timeout 5000 \
		"$@" "$url" || exp_die "ampload failed"
	t1=$(date +%s%N)
	c1=$(lab_cpu_ns "$LAB_PID")
	lab_stop
	echo "$loop,$mpl,$sched,$load,$rep,$((c1 - c0)),$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'),$("$PY" "$LAB" row "$json")" >>"$raw"
	exp_log "$loop mpl $mpl $sched load $load #$rep: $(tail -n1 "$raw" | awk -F, '{ printf "busy %.2f, %s resp/s, mean %s ms", $6 / 1e9 / $7, $8, $13 }')"
}

# The service rate: the throughput of 32 closed users without think time
# (the system saturated, whichever part of it is the bottleneck), and
# E[S] = 1 / that.  The server's CPU per response is not used: on two
# shared CPUs the server's CPU is not the only limit, and a load computed
# from it overstated what the system could carry (measured: open runs at
# "0.5" collapsed).
run_one calib 32 fcfs 1 0 -m closed -c 32
XMAX=$(tail -n1 "$raw" | cut -d, -f8)
ES_US=$(awk -v x="$XMAX" 'BEGIN { printf "%.2f", 1e6 / x }')
exp_log "capacity $XMAX responses/s: E[S] = $ES_US us (mean file $mean_kb KiB)"
lab_testbed "part 1 server=qserver, one FCFS queue, exponential service of mean $QS_US us, CPU 0" \
	"part 2 server=amped --model $MODEL $SERVER_FLAGS, CPU 0" \
	"part 2 sizes=$FILES files, bounded Pareto alpha $ALPHA on 4 KiB..4 MiB, mean $mean_kb KiB, uniform popularity" \
	"part 2 E[S]=$ES_US us (1 / saturated throughput)" "loads=$LOADS" "MPLs=$MPLS" \
	"part 3 partly open=qserver, p-return $PRETURNS, think exponential mean $PO_THINK_MS ms" \
	"duration=${DURATION} s measured + ${WARMUP_S} s warm-up"

mpl1=${MPLS%% *}
for rep in $(seq 1 "$REPS"); do
	for load in $(lab_rotate "$rep" $LOADS); do
		# Part 1: qserver, open and every MPL.
		rate=$(awk -v l="$load" -v s="$QS_US" 'BEGIN { printf "%.1f", l / (s / 1e6) }')
		run_one open 0 mm1 "$load" "$rep" -m open -r "$rate"
		for mpl in $(lab_rotate "$rep" $MPLS); do
			think=$(awk -v l="$load" -v s="$QS_US" -v n="$mpl" 'BEGIN { printf "%.4f", n * s / 1000 / l }')
			run_one closed "$mpl" mm1 "$load" "$rep" -m closed -c "$mpl" --think "$think" --think-dist exp
		done
		# Part 2: amped, FCFS and SRPT, open and the smallest MPL.
		for sched in $(lab_rotate "$rep" fcfs srpt); do
			rate=$(awk -v l="$load" -v s="$ES_US" 'BEGIN { printf "%.1f", l / (s / 1e6) }')
			run_one open 0 "$sched" "$load" "$rep" -m open -r "$rate" -c 64 --max-conns 256
			think=$(awk -v l="$load" -v s="$ES_US" -v n="$mpl1" 'BEGIN { printf "%.4f", n * s / 1000 / l }')
			run_one closed "$mpl1" "$sched" "$load" "$rep" -m closed -c "$mpl1" --think "$think" --think-dist exp
		done
	done
	# Part 3: qserver, partly open at the highest load; the mpl column
	# holds p.
	top=$(printf '%s\n' $LOADS | sort -n | tail -n1)
	for p in $(lab_rotate "$rep" $PRETURNS); do
		rate=$(awk -v l="$top" -v s="$QS_US" -v p="$p" 'BEGIN { printf "%.2f", l / (s / 1e6) * (1 - p) }')
		run_one partly "$p" mm1 "$top" "$rep" -m partly-open -r "$rate" --p-return "$p" \
			--think "$PO_THINK_MS" --think-dist exp
	done
done

"$PY" "$EXP_ROOT/scripts/experiments/open-closed.py" "$LAB_OUT" "$ES_US" "$MODEL" "$QS_US" ||
	exp_die "analysis failed"
lab_finish
