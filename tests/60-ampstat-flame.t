#!/bin/sh
# The flame-graph renderer (user/ampstat/flame.c) without BPF:
# tests/unit/flame_unit.c parses the SVG it writes back.
cd "$(dirname "$0")/.." || exit 1
[ -x build/tests/flame_unit ] || { echo "Bail out! build/tests/flame_unit missing (run make)"; exit 1; }
exec build/tests/flame_unit
