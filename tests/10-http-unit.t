#!/bin/sh
exec build/tests/test_http
