#!/bin/bash
# traces.sh — experiment 2: Flash's trace experiments (Pai et al. 1999,
# Figs. 8-9: Owlnet fits in memory, CS does not) as a synthetic workload.
#
# The Rice traces are not available, so the workload is a SPECweb99-like
# file set (ampload gen-fileset) requested with Zipf popularity (alpha 1).
# The data set grows from half of the memory the server may use for its
# page cache to several times it: the server runs in a cgroup v1 memory
# group limited to MEM_MB, so its page cache (the files it reads, charged
# to it) is bounded without touching the rest of the machine.  The files
# sit behind slowfs (LATENCY_US per read, one arm), so a page-cache miss
# costs a modelled disk read instead of the VM's microsecond disk.
# A closed loop of CONNS keep-alive users; caches dropped before each run;
# WARMUP_S excluded while the cache fills.  Figure: bandwidth vs data set.
#
# Usage: scripts/experiments/traces.sh         (QUICK=1: a reduced run)
# Environment: MODELS (every amped model), MEM_MB (32), SETS_MB (data set
#   sizes), LATENCY_US (2000), CONNS (32), DURATION, REPS.
# Output: build/experiments/traces/.  Needs root (cgroup, FUSE).
# Exit status: 0 ok, 1 runtime error, 2 usage error.
set -eu
# shellcheck source=scripts/lib-lab.sh
. "$(dirname "$0")/../lib-lab.sh"
lab_init traces "$@"

if [ "$QUICK" = 1 ]; then
	MODELS=${MODELS:-amped sped}
	SETS_MB=${SETS_MB:-16 128}
	DURATION=${DURATION:-2}
	WARMUP_S=${WARMUP_S:-1}
else
	MODELS=${MODELS:-$(lab_models)}
	SETS_MB=${SETS_MB:-16 64 128}
	DURATION=${DURATION:-4}
	WARMUP_S=${WARMUP_S:-4}
fi
MEM_MB=${MEM_MB:-32}
LATENCY_US=${LATENCY_US:-2000}
CONNS=${CONNS:-32}
cg=/sys/fs/cgroup/memory/amped-lab-traces
[ -d /sys/fs/cgroup/memory ] || exp_die "no cgroup v1 memory controller at /sys/fs/cgroup/memory"

# One file set large enough for the largest data set; a smaller data set is
# the most popular files that add up to its size (manifests are in rank
# order), so every data set has the same head.
max_mb=$(echo "$SETS_MB" | tr ' ' '\n' | sort -n | tail -n1)
files=$(awk -v m="$max_mb" 'BEGIN { printf "%d", m * 1048576 / 14000 + 200 }')
site=$(lab_spec_site "$files")
for mb in $SETS_MB; do
	awk -v lim="$((mb * 1048576))" '/^#/ { next } { s += $2; if (s > lim) exit; print }' \
		"$site/set/manifest.txt" >"$LAB_OUT/manifest-$mb.txt"
done
mnt="$LAB_OUT/mnt"

mkdir -p "$cg"
echo $((MEM_MB * 1048576)) >"$cg/memory.limit_in_bytes"

lab_testbed "models=$MODELS" "memory bound=${MEM_MB} MB (cgroup v1 memory on the server)" \
	"data sets=$SETS_MB MB, SPECweb99-like, Zipf 1" "slowfs=${LATENCY_US} us per read, one arm" \
	"load=closed loop, $CONNS keep-alive users" "duration=${DURATION} s measured + ${WARMUP_S} s warm-up"

raw="$LAB_OUT/raw.csv"
echo "model,set_mb,rep,files,$("$PY" "$LAB" row --header)" >"$raw"
mkdir -p "$LAB_OUT/json"
for rep in $(seq 1 "$REPS"); do
	for mb in $(lab_rotate "$rep" $SETS_MB); do
		for model in $(lab_rotate "$rep" $MODELS); do
			json="$LAB_OUT/json/$model-$mb-$rep.json"
			lab_mount_slowfs "$site" "$mnt" "$LATENCY_US" "$LAB_OUT/run/slowfs"
			lab_start "$model" "$mnt" || exp_die "$model did not start"
			# The server and its helpers into the bounded group; what they
			# read from now on is charged to it.
			for p in $LAB_PID $(pgrep -P "$LAB_PID" || true); do echo "$p" >"$cg/cgroup.procs"; done
			exp_drop_caches || true
			lab_ampload "$json" -m closed -c "$CONNS" --fileset "$LAB_OUT/manifest-$mb.txt" --zipf 1 \
				-w "$WARMUP_S" -d "$DURATION" --timeout 10000 "http://127.0.0.1:$LAB_PORT/set/" ||
				exp_die "ampload failed against $model"
			cache_mb=$(awk '$1 == "cache" { printf "%.1f", $2 / 1048576 }' "$cg/memory.stat")
			kill -0 "$LAB_PID" 2>/dev/null || exp_die "$model died during the run"
			lab_stop
			exp_unmount_slowfs "$mnt"
			echo "$model,$mb,$rep,$(grep -c . "$LAB_OUT/manifest-$mb.txt"),$("$PY" "$LAB" row "$json")" >>"$raw"
			exp_log "$model $mb MB #$rep: $(tail -n1 "$raw" | cut -d, -f5,13) MB/s; group's page cache ${cache_mb} MB"
		done
	done
done
rmdir "$cg" 2>/dev/null || true

"$PY" "$EXP_ROOT/scripts/experiments/traces.py" "$LAB_OUT" "$MODELS" "$MEM_MB" || exp_die "analysis failed"
lab_finish
