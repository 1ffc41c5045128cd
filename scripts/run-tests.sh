#!/bin/sh
# Run every test through prove (TAP).  Called by `make test` after the build.
# Tests are executable files tests/*.t (C unit tests are wrapped by a .t).
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ] && [ "${AMPED_REQUIRE_BPF:-0}" = 1 ]; then
	echo "run-tests: AMPED_REQUIRE_BPF=1 needs root" >&2
	exit 1
fi
# Each .t names its interpreter on its #! line; prove's --exec '' runs it directly.
exec prove --exec '' --timer ${PROVE_FLAGS:-} tests/*.t
