#!/bin/sh
# the rules of `ampstat profile` without BPF (tests/unit/pcat_unit.c).
cd "$(dirname "$0")/.." || exit 1
[ -x build/tests/pcat_unit ] || { echo "Bail out! build/tests/pcat_unit missing (run make)"; exit 1; }
exec build/tests/pcat_unit
