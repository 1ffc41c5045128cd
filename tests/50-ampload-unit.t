#!/bin/sh
# ampload's unit tests (response parser, histogram, CLF parser, Zipf
# choice, t quantiles), built with the sanitizers.
cd "$(dirname "$0")/.." || exit 1
if [ ! -x build/tests/ampload_unit ]; then
	echo "Bail out! build/tests/ampload_unit missing (make build/tests/ampload_unit)"
	exit 1
fi
exec build/tests/ampload_unit
