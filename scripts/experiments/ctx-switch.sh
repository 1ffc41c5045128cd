#!/bin/bash
# ctx-switch.sh — experiment 7: the lecture's rule "switch when
# t_idle > 2 x t_ctx_switch", on this machine.
#
# 1. The context-switch cost (build/ctxbench: a token passed through pipes
#    between two threads or two processes, pinned to one CPU, or to two for
#    a cross-CPU wake-up; the pipe calls' own cost subtracted).
# 2. The hand-off cost of each amped model that hands work off: amped runs
#    with --no-path-cache, so that every request's path translation goes to
#    a helper, under an open loop of RATE req/s for a cached 1 KiB file, and
#    `ampstat latency --sample 1` reports the helper-queue phase (from the
#    dispatcher's submit to the helper starting) per request.
# 3. Both against the disk wait they hide (slowfs: LATENCY_US per read).
#
# Usage: scripts/experiments/ctx-switch.sh     (QUICK=1: a reduced run)
# Environment: MODELS (every amped model), RATE (1000), DURATION,
#   ROUND_TRIPS, LATENCY_US (8000, the disk wait compared with), REPS.
# Output: build/experiments/ctx-switch/.  Needs root.
# Exit status: 0 ok, 1 runtime error, 2 usage error.
set -eu
# shellcheck source=scripts/lib-lab.sh
. "$(dirname "$0")/../lib-lab.sh"
lab_init ctx-switch "$@"

if [ "$QUICK" = 1 ]; then
	MODELS=${MODELS:-amped amted sped}
	DURATION=${DURATION:-2}
	ROUND_TRIPS=${ROUND_TRIPS:-20000}
else
	MODELS=${MODELS:-$(lab_models)}
	DURATION=${DURATION:-4}
	ROUND_TRIPS=${ROUND_TRIPS:-200000}
fi
RATE=${RATE:-1000}
LATENCY_US=${LATENCY_US:-8000}
CTXBENCH="$EXP_BUILD/ctxbench"
[ -x "$CTXBENCH" ] || exp_die "$CTXBENCH is missing (run make all)"

site="$EXP_BUILD/lab-site-best"
lab_site "$site"
[ -s "$site/s1.bin" ] || head -c 1024 /dev/urandom >"$site/s1.bin"

lab_testbed "models=$MODELS" "ctxbench=$ROUND_TRIPS round trips per run" \
	"hand-off load=open loop $RATE/s, 1 KiB cached, amped --no-path-cache, ${DURATION} s" \
	"disk wait compared with=${LATENCY_US} us (slowfs per read)"

mkdir -p "$LAB_OUT/json"
ctx="$LAB_OUT/ctx.csv"
echo "kind,cpus,rep,round_trip_ns,baseline_ns,switch_ns" >"$ctx"
hand="$LAB_OUT/handoff.csv"
echo "model,rep,requests,helper_requests,queue_p50_ns,queue_mean_ns,service_p50_ns,latency_p50_ns" >"$hand"

for rep in $(seq 1 "$REPS"); do
	for kc in $(lab_rotate "$rep" thread:same process:same thread:cross process:cross); do
		exp_run "$LAB_OUT/run/ctx.out" timeout 120 "$CTXBENCH" --kind "${kc%:*}" --cpus "${kc#*:}" \
			--round-trips "$ROUND_TRIPS"
		[ "$EXP_RC" = 0 ] || exp_die "ctxbench failed: $(cat "$LAB_OUT/run/ctx.out")"
		"$PY" -c 'import json, sys; d = json.load(open(sys.argv[1]))
print("%s,%s,%s,%s,%s,%s" % (d["kind"], d["cpus"], sys.argv[2], d["round_trip_ns"], d["baseline_ns"], d["switch_ns"]))' \
			"$LAB_OUT/run/ctx.out" "$rep" >>"$ctx"
	done
	for model in $(lab_rotate "$rep" $MODELS); do
		lab_start "$model" "$site" --no-path-cache || exp_die "$model did not start"
		lat="$LAB_OUT/json/latency-$model-$rep.json"
		# shellcheck disable=SC2046
		exp_start_bg "$lat" "$LAB_OUT/run/latency.err" timeout -k 5 $((DURATION + 30)) $(exp_pin 1) \
			"$AMPSTAT" latency -p "$LAB_PID" -d $((DURATION + 1)) --json --sample 1
		lpid=$EXP_LAST_PID
		for i in $(seq 1 100); do grep -q tracing "$LAB_OUT/run/latency.err" 2>/dev/null && break; sleep 0.1; done
		lab_ampload "$LAB_OUT/json/ampload-$model-$rep.json" -m open -r "$RATE" -d "$DURATION" -w 0.5 \
			"http://127.0.0.1:$LAB_PORT/s1.bin" || exp_die "ampload failed against $model"
		exp_stop_pid "$lpid" 60000 || true
		lab_stop
		"$PY" - "$lat" "$model" "$rep" >>"$hand" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    d = {}
ph = {p["phase"]: p for p in d.get("phases", [])}
q, s = ph.get("helper_queue", {}), ph.get("helper_service", {})
print("%s,%s,%s,%s,%s,%s,%s,%s" % (sys.argv[2], sys.argv[3], d.get("requests", 0), d.get("helper_requests", 0),
      q.get("p50_ns", ""), q.get("mean_ns", ""), s.get("p50_ns", ""), d.get("latency_ns", {}).get("p50", "")))
EOF
		exp_log "$model #$rep: $(tail -n1 "$hand")"
	done
done

"$PY" "$EXP_ROOT/scripts/experiments/ctx-switch.py" "$LAB_OUT" "$LATENCY_US" || exp_die "analysis failed"
lab_finish
