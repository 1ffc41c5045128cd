#!/bin/bash
# --model hybrid (Apache's worker MPM): each process's worker pool grows
# under load and shrinks after, read from /proc.  One process, --threads
# 16, spare 1-2: 10 keep-alive connections held open each occupy a worker
# (a worker serves one connection at a time), so the pool must grow past
# them; once they close it must shrink back to at most --max-spare idle
# workers.  Also: two processes serve, and bad spare settings are usage
# errors.  Both builds.
. "$(dirname "$0")/lib.sh"

make_docroot "$ROOT"
HOSTILE=tests/fuzz/hostile.py

# workers_of PID: worker threads (amped-work-N) of the one child of PID
child_of() { pgrep -P "$1" | head -1; }
workers_of() { cat /proc/"$(child_of "$1")"/task/*/comm 2>/dev/null | grep -c '^amped-work-'; }
# wait_workers PID CMP N SECONDS: until workers_of PID CMP N; echoes the count
wait_workers() {
	local i w
	for i in $(seq 1 $(($4 * 20))); do
		w=$(workers_of "$1")
		[ "$w" "$2" "$3" ] && break
		sleep 0.05
	done
	echo "$w"
}

for b in "${BINS[@]}"; do
	V="[$b hybrid] "
	if ! srv_start "$b" hybrid --workers 1 --threads 16 --min-spare 1 --max-spare 2 \
		--keepalive-timeout-ms 60000 --header-timeout-ms 60000; then
		ok 1 "server starts"
		continue
	fi
	like "$(head -1 "$SRV_OUT")" 'model hybrid, 1 workers, 16 threads each, spare 1-2' "listening line"
	w0=$(wait_workers "$SRV_PID" -ge 1 5)
	ok "$([ "$w0" -ge 1 ] && [ "$w0" -le 3 ]; echo $?)" "idle: a small pool ($w0 workers)"
	rm -f "$T/idle.in"
	mkfifo "$T/idle.in"
	"$PY" "$HOSTILE" idle "$SRV_HOST" "$SRV_PORT" 10 /a.txt <"$T/idle.in" >"$T/idle.out" 2>&1 &
	cpid=$!
	exec 7>"$T/idle.in"
	for i in $(seq 1 200); do
		grep -q '^READY' "$T/idle.out" && break
		sleep 0.05
	done
	like "$(cat "$T/idle.out")" '^READY 10 10' "10 keep-alive connections held, each answered"
	w1=$(wait_workers "$SRV_PID" -ge 11 5)
	ok "$([ "$w1" -ge 11 ] && [ "$w1" -le 16 ]; echo $?)" \
		"under load the pool grew: 10 busy workers plus a spare ($w0 -> $w1, at most 16)"
	is "$(get /1k.txt)" 200 "another client is served meanwhile"
	exec 7>&-
	wait "$cpid"
	w2=$(wait_workers "$SRV_PID" -le 3 10)
	ok "$([ "$w2" -le 3 ]; echo $?)" "after the load the pool shrank back ($w1 -> $w2 workers; at most 2 spare + 1 for the GET)"
	diag "hybrid pool: $w0 workers idle, $w1 with 10 connections held, $w2 after they closed"
	srv_stop TERM

	V="[$b hybrid 2 processes] "
	if srv_start "$b" hybrid --workers 2; then
		is "$(pgrep -P "$SRV_PID" | wc -l)" 2 "two processes"
		c=0
		for i in $(seq 1 10); do [ "$(get /a.txt)" = 200 ] && c=$((c + 1)); done
		is "$c" 10 "10 requests served"
		srv_stop TERM
	else
		ok 1 "server starts"
	fi

	V="[$b hybrid cli] "
	timeout 10 "$b" --root "$ROOT" --port 0 --model hybrid --min-spare 8 --max-spare 2 >/dev/null 2>"$T/cli.err"
	is "$?" 2 "--max-spare below --min-spare: usage error"
	like "$(cat "$T/cli.err")" 'max-spare' "says why"
	timeout 10 "$b" --root "$ROOT" --port 0 --model hybrid --threads 0 >/dev/null 2>&1
	is "$?" 2 "--threads 0: usage error"
done
V=''
done_testing
