#!/bin/sh
# ult.c, amped's user-level threads, unit-tested without a server: the
# optimized build (its switch cost is printed) and the sanitizer build.
build/tests/test_ult && exec build/tests/test_ult_asan
