#!/bin/bash
# One connection per request against a full accept queue: every arrival
# must start its own connect at its arrival time, as httperf does.
#
# The server listens with a backlog of 1 and never accepts, so after two
# handshakes the kernel drops every SYN (retried after 1 s, 3 s ...).  100
# arrivals (deterministic, 200/s) with --conn-per-request must put 100
# connects on the wire; so must 100 partly-open sessions, each of which
# opens its own connection.  A generator that caps connects in progress
# (ampload once allowed 16 per thread) turns the dropped SYNs into a closed
# loop of 16: against nginx behind slowfs it sent 433 of 700 requests/s
# with a 4.5 s median, while httperf kept the rate.  No request is ever
# answered, so ampload reports "no request got a response" and exits 1.
# shellcheck source=tests/unit/ampload_lib.sh
. "$(dirname "$0")/unit/ampload_lib.sh"

# ls_start: a listener that never accepts, for at most 60 s; sets LS_PORT
# (empty on failure).  ampload's start-up probe takes one of its two slots.
LS_PID=''
ls_start() {
	"$PY" -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
time.sleep(60)
' >"$T/ls.out" 2>"$T/ls.err" </dev/null &
	LS_PID=$!
	LS_PORT=''
	for _ in $(seq 1 100); do
		LS_PORT=$(head -n 1 "$T/ls.out" 2>/dev/null)
		[ -n "$LS_PORT" ] && return
		sleep 0.05
	done
}
ls_stop() {
	[ -n "$LS_PID" ] && kill -KILL "$LS_PID" 2>/dev/null && wait "$LS_PID" 2>/dev/null
	LS_PID=''
}
trap 'ls_stop; al_cleanup' EXIT

for mode in open partly-open; do
	j=$T/$mode.json
	ls_start
	if [ -z "$LS_PORT" ]; then
		ok 1 "listener starts" "$(cat "$T/ls.err")"
		continue
	fi
	extra=()
	[ "$mode" = open ] && extra=(--conn-per-request)
	timeout 30 "$AMPLOAD" -m "$mode" "${extra[@]}" --arrivals det -r 200 -n 100 -w 0 \
		--timeout 300 --json "$j" "http://127.0.0.1:$LS_PORT/" >"$T/$mode.txt" 2>&1
	rc=$?
	ls_stop
	sed 's/^/# /' "$T/$mode.txt"
	is "$rc" 1 "$mode: exit 1 (no response)"
	ok "$(grep -q 'no request got a response' "$T/$mode.txt"; echo $?)" "$mode: says why"
	is "$(jget "$j" 'd["sent"]')" 100 "$mode: 100 arrivals"
	is "$(jget "$j" 'd["connections"]')" 100 "$mode: one connect per arrival, not a capped few"
done
done_testing
