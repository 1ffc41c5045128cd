#!/bin/sh
# resp.c, amped's response builder, unit-tested without a server (ASan+UBSan build).
exec build/tests/test_resp
