#!/bin/sh
# ampstat's userspace modules without BPF (tests/unit/ampstat_unit.c).
cd "$(dirname "$0")/.." || exit 1
[ -x build/tests/ampstat_unit ] || { echo "Bail out! build/tests/ampstat_unit missing (run make)"; exit 1; }
exec build/tests/ampstat_unit
