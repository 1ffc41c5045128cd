#!/bin/sh
# srpt.c, the --sched srpt ready queue, unit-tested (ASan+UBSan build).
exec build/tests/test_srpt
