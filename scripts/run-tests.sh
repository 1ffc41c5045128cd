#!/bin/sh
# Run every test through prove (TAP).  Called by `make test` after the build.
# Tests are executable files tests/*.t (C unit tests are wrapped by a .t).
#
# Two passes.  The server's functional tests (tests/1*, tests/2*, and the
# hostile-client suite tests/71) run every model against both builds and
# spend most of their time waiting on the server's timeouts and on curl;
# they run two at a time (prove -j2).  Everything that measures time, rates
# or CPU shares (ampload, ampstat, BPF, slowfs, fuzzing, the scale tests)
# runs afterwards, one test at a time, on an otherwise quiet machine.
# TESTS="tests/20-http-basic.t ..." runs only those, in one serial pass.
# Exit status: 0 when every test passed, 1 otherwise.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ] && [ "${AMPED_REQUIRE_BPF:-0}" = 1 ]; then
	echo "run-tests: AMPED_REQUIRE_BPF=1 needs root" >&2
	exit 1
fi
# Each .t names its interpreter on its #! line; prove's --exec '' runs it directly.
if [ -n "${TESTS:-}" ]; then
	# shellcheck disable=SC2086
	exec prove --exec '' --timer ${PROVE_FLAGS:-} $TESTS
fi
par=""
seq=""
for t in tests/*.t; do
	case "$t" in
	tests/1*.t | tests/2*.t | tests/71-*.t) par="$par $t" ;;
	*) seq="$seq $t" ;;
	esac
done
# Each pass's output is kept (build/test-pass-N.log) so that the last lines
# of the run name every failed test of both passes: CI shows only the tail.
mkdir -p build
rc=0
run_pass() { # N DESCRIPTION -j FLAGS... TESTS...
	n=$1
	shift
	echo "run-tests: pass $n of 2, $1"
	shift
	# shellcheck disable=SC2086
	{ prove --exec '' --timer "$@" 2>&1 || echo "run-tests: pass $n exit $?"; } |
		tee "build/test-pass-$n.log"
	! grep -q "^run-tests: pass $n exit" "build/test-pass-$n.log"
}
# shellcheck disable=SC2086
run_pass 1 "two at a time:$par" -j2 ${PROVE_FLAGS:-} $par || rc=1
# shellcheck disable=SC2086
run_pass 2 "one at a time:$seq" ${PROVE_FLAGS:-} $seq || rc=1
if [ "$rc" != 0 ]; then
	for n in 1 2; do
		# prove's summary report: the failed tests with their failed numbers
		if grep -q '^Test Summary Report' "build/test-pass-$n.log"; then
			echo "run-tests: pass $n failed:"
			sed -n '/^Test Summary Report/,/^Files=/p' "build/test-pass-$n.log" |
				grep -v -e '^Test Summary' -e '^---' -e '^Files='
			grep -h -A3 -e "^#   Failed" "build/test-pass-$n.log" | head -24
		fi
	done
	echo "run-tests: FAILED (logs: build/test-pass-1.log, build/test-pass-2.log)" >&2
fi
exit $rc
