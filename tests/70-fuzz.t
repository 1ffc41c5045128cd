#!/bin/bash
# libFuzzer runs of the request parser and the path decoder (tests/fuzz/),
# each for FUZZ_SECONDS: 30 s when CI=true, else 20 s.  The two harnesses
# run side by side (2 cores); each works on a scratch copy of the corpus so
# the checked-in seeds stay small.  Any crash, leak, timeout or violated
# property fails the test and leaves the input under build/fuzz/.
set -u
cd "$(dirname "$0")/.." || exit 1

if [ "${CI:-}" = true ]; then DEF=30; else DEF=20; fi
SECS=${FUZZ_SECONDS:-$DEF}
T=$(mktemp -d /tmp/amped-fuzz.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

N=0
ok() { N=$((N + 1)); if [ "$1" -eq 0 ]; then echo "ok $N - $2"; else echo "not ok $N - $2"; [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /'; fi; }

NAMES=(request path)
for n in "${NAMES[@]}"; do
	if [ ! -x "build/fuzz/fuzz_$n" ]; then
		echo "Bail out! build/fuzz/fuzz_$n missing (run make)"
		exit 1
	fi
done
mkdir -p build/fuzz
echo "# fuzzing each harness for $SECS s (FUZZ_SECONDS; CI=true: 60)"
for n in "${NAMES[@]}"; do
	mkdir -p "$T/corpus-$n"
	# -timeout: one input taking 10 s is a hang; the parser is linear.
	timeout $((SECS + 60)) "build/fuzz/fuzz_$n" -max_total_time="$SECS" -timeout=10 \
		-max_len=8192 -print_final_stats=1 -dict=tests/fuzz/http.dict \
		-artifact_prefix="build/fuzz/crash-$n-" \
		"$T/corpus-$n" "tests/fuzz/corpus/$n" >"$T/$n.log" 2>&1 &
	PIDS+=($!)
done
for i in "${!NAMES[@]}"; do
	n=${NAMES[$i]}
	wait "${PIDS[$i]}"
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/$n.log")
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$T/$n.log")
	cov=$(grep -Eo 'cov: [0-9]+' "$T/$n.log" | tail -1)
	crash=$(grep -Eo 'Test unit written to .*' "$T/$n.log" | head -1)
	ok "$([ "$rc" = 0 ] && [ -z "$crash" ]; echo $?)" \
		"fuzz_$n: no crash in $SECS s" \
		"exit $rc; $crash
$(grep -E -A25 'ERROR: |runtime error|fuzz_[a-z]+: .*:[0-9]+:|deadly signal' "$T/$n.log" | head -40)"
	ok "$([ -n "$execs" ] && [ "$execs" -gt 0 ]; echo $?)" "fuzz_$n ran inputs" "$(tail -5 "$T/$n.log")"
	echo "# fuzz_$n: ${execs:-0} executions in $SECS s ($((${execs:-0} / SECS))/s), $cov, peak RSS ${rss:-?} MB"
done
# Every seed must still parse without a report (a regression input that
# once crashed stays in the corpus).
for n in "${NAMES[@]}"; do
	out=$("build/fuzz/fuzz_$n" -runs=0 "tests/fuzz/corpus/$n" 2>&1)
	ok $? "fuzz_$n: every seed in tests/fuzz/corpus/$n runs clean" "$(printf '%s\n' "$out" | tail -20)"
done
echo "1..$N"
