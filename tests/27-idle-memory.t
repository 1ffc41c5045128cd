#!/bin/bash
# Idle keep-alive connections cost little (issue 12 item 3): for each
# event-driven model, 5,000 connections each make one request and stay
# open; while they are held, other clients are still served, the idle ones
# still answer, and the server's memory (Pss of all its processes, from
# /proc/PID/smaps_rollup) grew by less than a generous bound per connection.
# A connection's request state (head buffer, path key, header buffer, job)
# comes from a pool while a request is in flight and goes back when the
# connection goes idle (the pool returns what it did not need within a
# second; idleconns.py measures after 2.5 s); before that change each idle
# connection kept ~10 KB.
# Not timed.  The release build only: ASan's shadow memory and quarantine
# are not the server's.
. "$(dirname "$0")/lib.sh"

N=${IDLE_CONNS:-5000}
BOUND_BYTES=1024	# measured here ~130-145 bytes; the old layout ~10,100
make_docroot "$ROOT"
head -c 1024 /dev/zero | tr '\0' x >"$ROOT/k1.bin"

for m in "${MODELS[@]}"; do
	# a thread (mt, hybrid), a process (mp) or a user-level thread and its
	# stack (ult) per connection: not their design
	# select watches no fd >= 1024 (those get the documented 503): the
	# poller tests (27-poller.t) cover it
	case "$m" in mp | mt | ult | hybrid | *+select) continue ;; esac
	V="[build/amped $m] "
	if ! srv_start build/amped "$m" --max-conns $((N + 1000)) --keepalive-timeout-ms 600000; then
		ok 1 "server starts"
		continue
	fi
	get /k1.bin >/dev/null	# caches warm, helpers started: part of the baseline
	sleep 0.3
	pids=$(echo "$SRV_PID" $(pgrep -P "$SRV_PID") | tr ' ' ,)
	line=$(timeout 120 "$PY" tests/helpers/idleconns.py "$SRV_HOST" "$SRV_PORT" /k1.bin "$N" "$pids" 2>&1)
	diag "$line"
	val() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	is "$(val idle_ok)" "$N" "$N connections each got their 200 and stay open"
	is "$(val probe_ok)" 20 "20 requests on fresh connections answered while they are held"
	is "$(val still_open_ok)" "50/50" "a sample of the idle connections answers again"
	b=$(val bytes_per_conn)
	ok "$([ -n "$b" ] && [ "$b" -lt "$BOUND_BYTES" ]; echo $?)" \
		"server memory per idle connection ${b:-?} bytes < $BOUND_BYTES"
	srv_stop
done
done_testing
