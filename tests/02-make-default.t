#!/bin/bash
# Bare `make` (no target) must build the programs and must not run the
# fuzzers: tests/fuzz/fuzz.mk is included before `all:` and once made
# `fuzz` the default goal, so `make` fuzzed for two minutes and built
# nothing.  `make -n -B` prints every command the default goal would run
# (the sub-make of `all` runs under -n too) without running any of them.
set -u
cd "$(dirname "$0")/.." || exit 1
out=$(mktemp /tmp/amped-make.XXXXXX)
trap 'rm -f "$out"' EXIT
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

make -n -B V=1 >"$out" 2>&1
ok $? "make -n -B (no target) exits 0"
goal=$(make -p -n -f Makefile -q nonexistent-target-probe 2>/dev/null | sed -n 's/^\.DEFAULT_GOAL := //p' | head -1)
ok "$([ "$goal" = all ]; echo $?)" "the default goal is all (got '$goal')"
for bin in build/amped build/asan/amped build/ampstat build/ampload build/slowfs; do
	ok "$(grep -Eq -- "-o $bin( |\$)" "$out"; echo $?)" "bare make builds $bin"
done
ok "$(grep -q 'scripts/deps.sh' "$out"; echo $?)" "bare make runs the dependency step first"
ok "$(! grep -Eq -- '-max_total_time|fuzz: (request|path) for' "$out"; echo $?)" \
	"bare make does not run the fuzzers"
echo "1..$n"
