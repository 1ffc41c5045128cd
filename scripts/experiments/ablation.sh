#!/bin/bash
# ablation.sh — experiment 3: Flash's ablation (Pai et al. 1999, Fig. 12):
# what each of amped's caches is worth, per model.
#
# Configurations, in Flash's order: no caches; the path cache only; path
# and map (open files / small-file copies) caches; all (path, map and
# response header) — through --no-path-cache, --no-map-cache and
# --no-header-cache.  Workload: a SPECweb99-like file set (ampload
# gen-fileset), Zipf popularity, all in the page cache; a closed loop of
# CONNS keep-alive users on CPU 1; the server, fresh per run, on CPU 0.
# The figure is the server's CPU time per request (schedstat), with the
# throughput beside and generator-limited runs flagged.
#
# Usage: scripts/experiments/ablation.sh       (QUICK=1: a reduced run)
# Environment: MODELS (every amped model), FILES (1000), CONNS (32),
#   DURATION (measured s), REPS.  Output: build/experiments/ablation/.
# Exit status: 0 ok, 1 runtime error, 2 usage error.
set -eu
# shellcheck source=scripts/lib-lab.sh
. "$(dirname "$0")/../lib-lab.sh"
lab_init ablation "$@"

if [ "$QUICK" = 1 ]; then
	MODELS=${MODELS:-amped sped}
	DURATION=${DURATION:-1}
else
	MODELS=${MODELS:-$(lab_models)}
	DURATION=${DURATION:-2}
fi
FILES=${FILES:-1000}
CONNS=${CONNS:-32}
WARMUP_S=${WARMUP_S:-0.5}
# name:flags, in the order caches are added.
CONFIGS="none:--no-path-cache,--no-map-cache,--no-header-cache path:--no-map-cache,--no-header-cache path+map:--no-header-cache all:"

site=$(lab_spec_site "$FILES")

lab_testbed "models=$MODELS" "configurations=${CONFIGS//,/ }" \
	"files=$FILES SPECweb99-like (ampload gen-fileset), Zipf 1, cached" \
	"load=closed loop, $CONNS keep-alive users" "duration=${DURATION} s measured + ${WARMUP_S} s warm-up"

raw="$LAB_OUT/raw.csv"
echo "model,config,rep,$LAB_CPU_HEADER" >"$raw"
mkdir -p "$LAB_OUT/json"
for rep in $(seq 1 "$REPS"); do
	for cfg in $(lab_rotate "$rep" $CONFIGS); do
		for model in $(lab_rotate "$rep" $MODELS); do
			name=${cfg%%:*}
			flags=${cfg#*:}
			lab_cpu_run "$model" "$site" "${flags//,/ }" "$LAB_OUT/json/$model-$name-$rep.json" /set/ \
				-m closed -c "$CONNS" --fileset "$site/set/manifest.txt" --zipf 1 \
				-w "$WARMUP_S" -d "$DURATION" --timeout 10000
			echo "$model,$name,$rep,$LAB_CPU_FIELDS" >>"$raw"
			exp_log "$model $name #$rep: $(tail -n1 "$raw" | cut -d, -f4-7)"
		done
	done
done

"$PY" "$EXP_ROOT/scripts/experiments/ablation.py" "$LAB_OUT" "$MODELS" || exp_die "analysis failed"
lab_finish
