#!/bin/bash
# The lab's pipeline end to end: two experiments in their QUICK form
# (cold-open: slowfs, server starts, ampstat top/blocked, open and closed
# loops; ablation: the CPU-per-request runs, flags passed to amped)
# write raw data, plots, a section with a verdict, and REPORT.md/.html.
# The test fails when a plot (PNG and SVG, non-empty; the PNG a valid PNG)
# or a verdict is missing -- never on the verdict's value: the figures come
# from a shared, noisy machine.  Also: scripts/plot-ampload.sh on one of the
# runs' JSON, its exit statuses, and lab.py's Student-t interval.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

if [ "$(id -u)" -ne 0 ]; then echo "1..0 # SKIP needs root (slowfs, drop_caches, ampstat)"; exit 0; fi
for b in build/amped build/ampload build/ampstat build/slowfs; do
	[ -x "$b" ] || { echo "Bail out! $b missing (run make all)"; exit 1; }
done
command -v gnuplot >/dev/null || { echo "Bail out! gnuplot missing (scripts/deps.sh)"; exit 1; }

export LAB_DIR="$T/lab"

# A PNG starts with its 8-byte signature and an IHDR chunk.
is_png() {
	[ -s "$1" ] && [ "$(head -c 16 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a0000000d49484452 ]
}

# check_experiment NAME: everything its section promises is there.
check_experiment() {
	local name=$1 dir="$LAB_DIR/$1" imgs n_png=0 img
	ok "$(test -s "$dir/raw.csv" && [ "$(wc -l <"$dir/raw.csv")" -gt 2 ]; echo $?)" "$name: raw.csv has rows"
	ok "$(ls "$dir"/json/*.json >/dev/null 2>&1; echo $?)" "$name: ampload JSON kept"
	like "$(cat "$dir/verdict.txt" 2>/dev/null)" '^(reproduced|differs: .+)$' "$name: verdict computed"
	like "$(grep -c 'Verdict (computed from the data):\*\* \(reproduced\|differs: \)' "$dir/section.md" 2>/dev/null)" '^1$' \
		"$name: the section states the verdict"
	like "$(grep -c '^\*\*Verdict rule.\*\*' "$dir/section.md" 2>/dev/null)" '^1$' "$name: the section states the rule"
	like "$(grep -c '^| .* ± ' "$dir/section.md" 2>/dev/null)" '^[1-9]' "$name: the table has confidence intervals"
	imgs=$(sed -n 's/^!\[[^]]*\](\([^)]*\)\.png)$/\1/p' "$dir/section.md" 2>/dev/null)
	for img in $imgs; do
		n_png=$((n_png + 1))
		ok "$(is_png "$LAB_DIR/$img.png"; echo $?)" "$name: $img.png is a PNG"
		ok "$(test -s "$LAB_DIR/$img.svg" && grep -q '<svg' "$LAB_DIR/$img.svg"; echo $?)" "$name: $img.svg is an SVG"
	done
	like "$n_png" '^([2-9]|[1-9][0-9])$' "$name: at least two plots in the section"
}

start=$(date +%s)
for name in cold-open ablation; do
	QUICK=1 timeout 150 "scripts/experiments/$name.sh" >"$T/$name.log" 2>&1
	rc=$?
	ok "$rc" "QUICK=1 $name.sh exits 0" "$(tail -n 15 "$T/$name.log")"
	check_experiment "$name"
done
diag "two QUICK experiments took $(($(date +%s) - start)) s"
like "$(grep -c 'blocked_io' "$LAB_DIR/cold-open/section.md")" '^[1-9]' "cold-open: ampstat top's shares are in the section"
like "$(grep -c '^| \(amped\|sped\) | [0-9]* | ' "$LAB_DIR/cold-open/section.md")" '^[1-9]' \
	"cold-open: ampstat blocked's summary is in the section"

# The assembled report has both sections and, in HTML, their plots inline.
for name in cold-open ablation; do
	like "$(grep -c "^## .*(\`$name\`)" "$LAB_DIR/REPORT.md")" '^1$' "REPORT.md has the $name section"
	like "$(grep -c "<img src=\"$name/" "$LAB_DIR/REPORT.html")" '^[1-9]' "REPORT.html shows $name's plots"
done
like "$(grep -c '^| cores | ' "$LAB_DIR/REPORT.md")" '^1$' "REPORT.md describes the testbed"

# plot-ampload.sh on a run's JSON: three plots, PNG and SVG each.
json=$(ls "$LAB_DIR"/cold-open/json/open-*.json | head -n1)
scripts/plot-ampload.sh "$json" "$T/plots" >"$T/plots.out" 2>&1
ok $? "plot-ampload.sh exits 0" "$(cat "$T/plots.out")"
for kind in latency-time latency-hist rate; do
	f="$T/plots/$(basename "$json" .json)-$kind"
	ok "$(is_png "$f.png"; echo $?)" "plot-ampload: $kind.png is a PNG"
	ok "$(grep -q '<svg' "$f.svg" 2>/dev/null; echo $?)" "plot-ampload: $kind.svg is an SVG"
done
scripts/plot-ampload.sh >/dev/null 2>&1
is "$?" 2 "plot-ampload.sh without arguments: exit 2"
scripts/plot-ampload.sh "$T/none.json" "$T/plots" >/dev/null 2>&1
is "$?" 1 "plot-ampload.sh on a missing file: exit 1"
echo '{"mode": "open"}' >"$T/bad.json"
scripts/plot-ampload.sh "$T/bad.json" "$T/plots" >/dev/null 2>&1
is "$?" 1 "plot-ampload.sh on JSON without a per-second series: exit 1"

# The shared statistics: mean and the Student-t 95% half-width.
is "$("$PY" -c 'import sys; sys.path.insert(0, "scripts/lab"); import lab
s = lab.summary([1, 2, 3]); print("%.3f %.3f %.1f" % (s["mean"], s["half"], s["median"]))')" \
	"2.000 2.484 2.0" "lab.summary: mean, t(2)*s/sqrt(n), median"
done_testing
