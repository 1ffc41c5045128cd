#!/bin/sh
# ult.c, amped's user-level threads, unit-tested without a server: the
# optimized build, whose switch cost is printed (13-ult-unit-asan.t: the
# sanitizer build).
exec build/tests/test_ult
