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
rc=0
echo "run-tests: pass 1 of 2, two at a time:$par"
# shellcheck disable=SC2086
prove --exec '' --timer -j2 ${PROVE_FLAGS:-} $par || rc=1
echo "run-tests: pass 2 of 2, one at a time:$seq"
# shellcheck disable=SC2086
prove --exec '' --timer ${PROVE_FLAGS:-} $seq || rc=1
[ "$rc" = 0 ] || echo "run-tests: FAILED (see the summaries of both passes above)" >&2
exit $rc
