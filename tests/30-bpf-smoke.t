#!/bin/sh
exec build/tests/bpf_smoke
