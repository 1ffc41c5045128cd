#!/bin/bash
# tuning.sh — experiment 6: Pariag et al. (EuroSys 2007), tuning curves:
# throughput and latency of each architecture as its main knob turns, on a
# mixed workload.
#
# Sweeps: SYMPED processes (--workers), MT threads (--workers), and AMPED's
# connection cap (--max-conns); a model added to SWEEPS joins.  Workload: a
# SPECweb99-like file set (ampload gen-fileset), Zipf popularity, cached; a
# closed loop of CONNS users, one connection per request (the accept path
# matters for every knob); fresh server per run on CPU 0, ampload on CPU 1.
# Their Table 1 (where each architecture spends its CPU, by category) needs
# `ampstat profile`, which does not exist yet: not run.
#
# Usage: scripts/experiments/tuning.sh         (QUICK=1: a reduced run)
# Environment: SWEEPS ("model:flag:v1,v2,..." ...), CONNS (128), DURATION,
#   REPS.  Output: build/experiments/tuning/.
# Exit status: 0 ok, 1 runtime error, 2 usage error.
set -eu
# shellcheck source=scripts/lib-lab.sh
. "$(dirname "$0")/../lib-lab.sh"
lab_init tuning "$@"

if [ "$QUICK" = 1 ]; then
	SWEEPS=${SWEEPS:-symped:--workers:1,4 mt:--workers:4,64 amped:--max-conns:8,1024}
	DURATION=${DURATION:-1}
else
	SWEEPS=${SWEEPS:-symped:--workers:1,2,4,8 mt:--workers:4,16,64,256 amped:--max-conns:8,32,128,1024}
	DURATION=${DURATION:-2}
fi
CONNS=${CONNS:-128}
WARMUP_S=${WARMUP_S:-0.5}

site=$(lab_spec_site 1000)

lab_testbed "sweeps=$SWEEPS" "files=1000 SPECweb99-like (ampload gen-fileset), Zipf 1, cached" \
	"load=closed loop, $CONNS users, one connection per request" \
	"duration=${DURATION} s measured + ${WARMUP_S} s warm-up"

raw="$LAB_OUT/raw.csv"
echo "model,knob,value,rep,$LAB_CPU_HEADER" >"$raw"
mkdir -p "$LAB_OUT/json"
for rep in $(seq 1 "$REPS"); do
	for sweep in $(lab_rotate "$rep" $SWEEPS); do
		model=${sweep%%:*}
		rest=${sweep#*:}
		flag=${rest%%:*}
		lab_is_model "$model" || exp_die "SWEEPS: $model is not an amped model"
		for value in $(lab_rotate "$rep" ${rest#*:} | tr ',' ' '); do
			lab_cpu_run "$model" "$site" "$flag $value" "$LAB_OUT/json/$model$flag-$value-$rep.json" /set/ \
				-m closed -c "$CONNS" --conn-per-request --fileset "$site/set/manifest.txt" --zipf 1 \
				-w "$WARMUP_S" -d "$DURATION" --timeout 10000
			echo "$model,$flag,$value,$rep,$LAB_CPU_FIELDS" >>"$raw"
			exp_log "$model $flag $value #$rep: $(tail -n1 "$raw" | cut -d, -f5-8)"
		done
	done
done

"$PY" "$EXP_ROOT/scripts/experiments/tuning.py" "$LAB_OUT" "$CONNS" || exp_die "analysis failed"
lab_finish
