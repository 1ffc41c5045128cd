#!/bin/sh
# plot-ampload.sh — plots of one ampload run, drawn by gnuplot.
#
# Usage: scripts/plot-ampload.sh FILE.json OUTDIR
#   FILE.json is what `ampload --json FILE.json` wrote.  Writes, as PNG
#   (pngcairo) and SVG, to OUTDIR (created if missing), named after FILE:
#     NAME-latency-time   mean and max latency per second (warm-up apart)
#     NAME-latency-hist   the latency histogram with p50 and p99 marked
#     NAME-rate           achieved, sent and target request rate per second
#   and prints the paths written.  The lab's experiments use the same code
#   (scripts/lab/lab.py plot_ampload).
# Exit status: 0 ok, 1 runtime error (unreadable JSON, gnuplot failed),
# 2 usage error.
set -eu
if [ $# -ne 2 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	echo "usage: $0 FILE.json OUTDIR" >&2
	exit 2
fi
[ -r "$1" ] || { echo "$0: cannot read $1" >&2; exit 1; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" "$(dirname "$0")/lab/lab.py" plot-ampload "$1" "$2"
