#!/bin/bash
# experiments.sh — the lab: run every experiment (scripts/experiments/*.sh),
# or the ones named, then assemble build/experiments/REPORT.md and .html.
#
# Usage: scripts/experiments.sh [NAME...]      QUICK=1 for the reduced runs
# LAB_DIR=DIR writes there instead of build/experiments.
# An experiment that fails is reported and the others still run.
# Exit status: 0 all ran, 1 one or more failed, 2 usage error.
set -eu
cd "$(dirname "$0")/.."
# In the order of lab.py (ORDER), then any other experiment.

if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
names="$*"
if [ -z "$names" ]; then
	for n in $("$PY" scripts/lab/lab.py order); do [ -x "scripts/experiments/$n.sh" ] && names="$names $n"; done
	for f in scripts/experiments/*.sh; do
		n=$(basename "$f" .sh)
		case " $names " in *" $n "*) ;; *) names="$names $n" ;; esac
	done
fi
rc=0
t0=$(date +%s)
for n in $names; do
	[ -x "scripts/experiments/$n.sh" ] || { echo "experiments: no experiment $n" >&2; exit 2; }
	s=$(date +%s)
	echo "experiments: $n (QUICK=${QUICK:-0})" >&2
	if ! "scripts/experiments/$n.sh"; then
		echo "experiments: $n FAILED" >&2
		rc=1
	fi
	echo "experiments: $n took $(($(date +%s) - s)) s" >&2
done
dir=${LAB_DIR:-build/experiments}
"$PY" scripts/lab/lab.py report "$dir" || rc=1
echo "experiments: all done in $(($(date +%s) - t0)) s; $dir/REPORT.html" >&2
exit $rc
