#!/bin/sh
# ult.c under ASan+UBSan: the stack switches annotated for the sanitizer.
exec build/tests/test_ult_asan
