#!/bin/bash
# The bench pipeline (scripts/bench.sh on scripts/lib-bench.sh) in its
# quick mode, and the floor server it measures everything against.  This
# checks that the pipeline yields numbers — non-zero CPU time per request
# for each workload, latencies, bytes per idle connection with every
# connection still open — and that the floor answers like an HTTP server
# where the bench relies on it (fixed body, keep-alive, Connection: close,
# pipelining, --body-bytes).  Never speed: these are not figures.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

FLOOR=build/floor
if [ ! -x "$FLOOR" ]; then
	echo "Bail out! $FLOOR missing (run make)"
	exit 1
fi

# pattern N: the bytes the floor sends (see user/floor/floor.c)
pattern() { awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "%c", 97 + (i * 7) % 26 }'; }
pattern 1024 >"$T/1024.bin"
pattern 102400 >"$T/102400.bin"

# ---- the floor, by hand
FL_PID=''
# fl_start ARGS...: sets FL_PID and FL_URL
fl_start() {
	local line=''
	"$FLOOR" --port 0 "$@" >"$T/fl.out" 2>"$T/fl.err" &
	FL_PID=$!
	for _ in $(seq 1 250); do
		line=$(head -n 1 "$T/fl.out")
		[ -n "$line" ] && break
		sleep 0.02
	done
	FL_URL=$(printf '%s' "$line" | sed -n 's|.*listening on \(http://[^ ]*/\).*|\1|p')
}
fl_stop() {
	kill -TERM "$FL_PID"
	wait "$FL_PID"
	is "$?" 0 "floor exits 0 on SIGTERM"
}

"$FLOOR" --body-bytes x >/dev/null 2>&1
is "$?" 2 "floor: bad --body-bytes is a usage error (2)"
"$FLOOR" --frobnicate >/dev/null 2>&1
is "$?" 2 "floor: unknown option is a usage error (2)"

fl_start
like "$FL_URL" '^http://127\.0\.0\.1:[0-9]+/$' "floor prints its URL"
code=$(curl -s -m 5 -o "$T/b1" -D "$T/h1" -w '%{http_code}' "${FL_URL}any/path")
is "$code" 200 "floor answers 200 to any path"
cmp -s "$T/b1" "$T/1024.bin"
ok $? "floor's body is the fixed 1024 bytes"
# Two requests on one curl: keep-alive means one connection for both.
n=$(curl -s -m 5 -o /dev/null -o /dev/null -w '%{num_connects}\n' "${FL_URL}a" "${FL_URL}b" | awk '{ s += $1 } END { print s }')
is "$n" 1 "keep-alive: two requests, one connection"
n=$(curl -s -m 5 -H 'Connection: close' -o /dev/null -o /dev/null -w '%{num_connects}\n' "${FL_URL}a" "${FL_URL}b" | awk '{ s += $1 } END { print s }')
is "$n" 2 "Connection: close: two requests, two connections"
curl -s -m 5 -H 'connection: CLOSE' -D "$T/h2" -o /dev/null "${FL_URL}"
grep -qi '^Connection: close' "$T/h2"
ok $? "a close request (any case) gets Connection: close"
# fl_raw HOW: send raw heads to the floor and read to EOF; prints the
# number of responses and the body bytes after the first head.
#   pipelined: two heads in one write, the second closing;
#   bytewise: one closing head, a byte at a time (the floor waits in
#   epoll between the bytes).
fl_raw() {
	"$PY" - "$FL_URL" "$1" <<'EOF'
import socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port), timeout=5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
close = b"GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
if sys.argv[2] == "pipelined":
    s.sendall(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" + close)
else:
    for b in close:
        s.send(bytes([b]))
        time.sleep(0.002)
buf = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    buf += c
print(buf.count(b"HTTP/1.1 200 OK"), len(buf.partition(b"\r\n\r\n")[2]))
EOF
}
like "$(fl_raw pipelined)" '^2 [0-9]+$' "two pipelined heads, two responses, then the floor closes"
is "$(fl_raw bytewise)" "1 1024" "a head sent byte by byte gets one whole response"
fl_stop

fl_start --body-bytes 102400
curl -s -m 5 -o "$T/b2" "${FL_URL}"
cmp -s "$T/b2" "$T/102400.bin"
ok $? "floor --body-bytes 102400 sends the 100 KiB body"
fl_stop

# ---- the bench pipeline, quick, floor and amped only
out=$T/bench.out
# one load for the latency part: the test stays under a minute
# its own work directory: a `make bench` running meanwhile keeps build/bench
BENCH_WORK=$T/bench BENCH_QUICK=1 SERVERS="floor amped" LOAD_PCTS=80 timeout 120 scripts/bench.sh >"$out" 2>&1
rc=$?
is "$rc" 0 "bench.sh BENCH_QUICK=1 exits 0"
[ "$rc" = 0 ] || tail -20 "$out" | sed 's/^/# /'
raw=$T/bench
for w in ka close big; do
	for s in floor amped; do
		line=$(awk -v w="$w" -v s="$s" '$1 == w && $2 == s' "$raw/cpu.txt")
		# unfinished requests (field 8) only say the server fell behind a loaded machine
		ok "$(awk -v l="$line" 'BEGIN { split(l, f, " "); exit !(f[4] > 0 && f[5] > 0 && f[7] > 0 && f[6] == 0 && f[8] != "") }'; echo $?)" \
			"$w $s: CPU us/request > 0, answered/s > 0, closed-loop req/s > 0, no errors" "line: '$line'"
	done
done
like "$(cat "$out")" 'amped / floor += [0-9.]+x  -> goal <= 1\.05x (met|MISSED)' "the floor goal is printed as met or missed"
for s in floor amped; do
	n=$(awk -v s="$s" '$1 == "lat" && $2 == s && $7 > 0 && $8 >= $7' "$raw/latency.txt" | wc -l)
	is "$n" 1 "latency $s: p50 > 0 and p99 >= p50 at 80% of its capacity"
	line=$(awk -v s="$s" '$1 == s' "$raw/memory.txt")
	like "$line" "^$s 1 -?[0-9]+ 200$" "memory $s: bytes per idle connection, all 200 connections open"
done
done_testing
