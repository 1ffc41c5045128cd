#!/bin/bash
# Scheduling of ready responses (--sched) and the cache ablation flags.
#
# srpt, for every build x event-driven model: six requests wait in the
# listen queue while the dispatcher is stopped (SIGSTOP) -- four 8 MiB
# downloads, a 48 KiB one and a 1 KiB one, the small ones arriving among
# and after the large ones.  When it continues, the dispatcher accepts and
# reads all six in one turn, so six responses are ready at once.  The
# access log (written as each response completes, by one thread) must show
# the 1 KiB response first, then the 48 KiB one, then the large ones: the
# fewest bytes left goes first.  Nothing here depends on timing: the test
# waits until the kernel's accept queue holds exactly the requests sent so
# far before sending the next, so arrival order is fixed; the 48 KiB
# response fits in a fresh loopback socket's send buffer (~3.9 MB here),
# and the large ones are twice that.
# seda runs it with one http-stage thread: --sched applies per http-stage
# thread, each an event loop with its own ready queue (model_seda.c).
# fcfs is the default: the listening line says so, and the same scenario
# without --sched completes the 48 KiB response before the 1 KiB one that
# arrived after it.  mp and mt refuse --sched srpt (exit 2).
#
# Ablation, for every build x model: with each of --no-path-cache,
# --no-map-cache, --no-header-cache alone, files, directories, redirects,
# 404, ranges and 304 come out right, twice over (the second time is where
# a cache would have answered).
. "$(dirname "$0")/lib.sh"

make_docroot "$ROOT"
"$PY" - "$ROOT" <<'EOF'
import random, sys
d = sys.argv[1]
r = random.Random(26)
with open(d + "/mid.bin", "wb") as f:
    f.write(r.randbytes(48 * 1024))
blk = r.randbytes(1 << 20)
for i in range(4):
    with open(d + "/large%d.bin" % i, "wb") as f:
        for k in range(8):
            f.write(bytes([i, k]) + blk[2:])
EOF
touch -d "$FIX_MTIME" "$ROOT"/mid.bin "$ROOT"/large*.bin

# Arrival order; the expected order under srpt is by size.
ORDER=(large0.bin large1.bin mid.bin large2.bin large3.bin 1k.txt)

# The client: connect and send each request, waiting until the listener's
# accept queue (rx_queue of the LISTEN socket in /proc/net/tcp; with
# TCP_DEFER_ACCEPT a connection enters it when its request has arrived)
# holds all sent so far; print QUEUED; then read every response to EOF and
# report status, body length and sha256 per request.
cat >"$T/client.py" <<'EOF'
import hashlib, os, select, socket, sys, time
host, port, run = sys.argv[1], int(sys.argv[2]), sys.argv[3]
paths = sys.argv[4:]

def backlog():
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            next(f)
            for line in f:
                fl = line.split()
                if fl[3] == "0A" and int(fl[1].split(":")[1], 16) == port:
                    return int(fl[4].split(":")[1], 16)
    return -1

socks = []
for i, p in enumerate(paths):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(("GET /%s?run=%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
               % (p, run)).encode())
    socks.append(s)
    end = time.time() + 10
    while backlog() != i + 1:
        if time.time() > end:
            print("QUEUE_TIMEOUT %d %d" % (i, backlog()), flush=True)
            sys.exit(3)
        time.sleep(0.005)
print("QUEUED", flush=True)

bufs = {s.fileno(): bytearray() for s in socks}
left = {s.fileno(): s for s in socks}
end = time.time() + 60
while left and time.time() < end:
    r, _, _ = select.select(list(left.values()), [], [], 1)
    for s in r:
        try:
            b = s.recv(1 << 20)
        except OSError:
            b = b""
        if b:
            bufs[s.fileno()] += b
        else:
            del left[s.fileno()]
for i, s in enumerate(socks):
    raw = bytes(bufs[s.fileno()])
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "-"
    print("R %d %s %s %d %s" % (i, paths[i], status, len(body), hashlib.sha256(body).hexdigest()))
print("DONE" if not left else "TIMEOUT")
EOF

# dispatcher_pid: the process whose loop serves (symped: its one worker).
dispatcher_pid() {
	local i c
	if [ "$SRV_MODEL" != symped ]; then
		echo "$SRV_PID"
		return
	fi
	for i in $(seq 1 100); do
		c=$(pgrep -P "$SRV_PID" | head -1)
		[ -n "$c" ] && { echo "$c"; return; }
		sleep 0.05
	done
}

# wait_state PID STATE SECONDS
wait_state() {
	local i
	for i in $(seq 1 $(($3 * 50))); do
		[ "$(proc_state "$1")" = "$2" ] && return 0
		sleep 0.02
	done
	return 1
}

RUN=0
# burst SCHED LOG: the scenario above; sets FIRST (paths of this run in the
# order the log shows them) or returns 1 after failing a test.
burst() {
	local sched=$1 log=$2 p dpid out i n want got cpid
	RUN=$((RUN + 1))
	# warm the path, open-file and page caches
	for p in "${ORDER[@]}"; do
		get "/$p" >/dev/null
	done
	dpid=$(dispatcher_pid)
	kill -STOP "$dpid"
	if ! wait_state "$dpid" T 5; then
		kill -CONT "$dpid"
		ok 1 "$sched: dispatcher stopped (SIGSTOP)" "state $(proc_state "$dpid")"
		return 1
	fi
	out=$T/client.$RUN
	timeout 90 "$PY" "$T/client.py" "$SRV_HOST" "$SRV_PORT" "$RUN" "${ORDER[@]}" >"$out" 2>&1 &
	cpid=$!
	for i in $(seq 1 500); do
		grep -Eq '^(QUEUED|QUEUE_TIMEOUT)' "$out" 2>/dev/null && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.02
	done
	kill -CONT "$dpid"
	wait "$cpid"
	if ! grep -q '^QUEUED' "$out"; then
		ok 1 "$sched: six requests queued while the dispatcher is stopped" "$(cat "$out")"
		return 1
	fi
	n=0
	for i in "${!ORDER[@]}"; do
		p=${ORDER[$i]}
		want="R $i $p 200 $(stat -c %s "$ROOT/$p") $(sha "$ROOT/$p")"
		got=$(grep "^R $i " "$out")
		[ "$got" = "$want" ] && n=$((n + 1))
	done
	is "$n" 6 "$sched: all six responses complete and intact" 
	[ "$n" -eq 6 ] || diag "$(cat "$out")"
	# the log is flushed about once a second
	for i in $(seq 1 100); do
		[ "$(grep -c "?run=$RUN " "$log")" -ge 6 ] && break
		sleep 0.05
	done
	FIRST=$(grep -o "GET /[^ ?]*?run=$RUN " "$log" | sed 's|GET /||; s|?.*||' | tr '\n' ' ')
	FIRST=${FIRST% }
	return 0
}

# SCHED_REPEAT=N runs the scenario N times per server (to check that it
# holds every time; the default is once).
sched_srpt() {
	local log=$1 k
	like "$(head -1 "$SRV_OUT")" "model $SRV_MODEL.*sched srpt(, poller [a-z]+)?\\)" "listening line names the model and sched srpt"
	for k in $(seq 1 "${SCHED_REPEAT:-1}"); do
		burst srpt "$log" || return
		like "$FIRST" '^1k\.txt mid\.bin large[0-3]\.bin large[0-3]\.bin large[0-3]\.bin large[0-3]\.bin$' \
			"srpt: 1 KiB, then 48 KiB, then the 8 MiB responses (log order: $FIRST)"
	done
}

sched_default() {
	local log=$1 k
	like "$(head -1 "$SRV_OUT")" "model $SRV_MODEL.*sched fcfs(, poller [a-z]+)?\\)" "listening line: sched fcfs by default"
	for k in $(seq 1 "${SCHED_REPEAT:-1}"); do
		burst fcfs "$log" || return
		like "$FIRST" '^(large[0-3]\.bin )*mid\.bin (large[0-3]\.bin )*1k\.txt' \
			"fcfs (default): the 48 KiB response before the 1 KiB one that came after it (log order: $FIRST)"
	done
}

for b in "${BINS[@]}"; do
	for m in "${MODELS[@]}"; do
		case "$m" in mp | mt | ult | hybrid) continue ;; esac
		V="[$b $m] "
		for s in srpt default; do
			log=$T/access.$s.$m.$(echo "$b" | tr / _).log
			args=(--cache-valid-ms 600000 --access-log "$log" --workers 1)
			# seda: --sched orders the ready responses of each http-stage
			# thread (its event loop); the accept stage hands a burst it
			# accepted in one go to the http stage as one batch.  One http
			# thread, so the whole burst is one ready set.
			[ "$m" = seda ] && args+=(--stage-threads http=1)
			[ "$s" = srpt ] && args+=(--sched srpt)
			if srv_start "$b" "$m" "${args[@]}"; then
				"sched_$s" "$log"
				srv_stop TERM
			else
				ok 1 "server starts ($s)"
			fi
		done
	done

	V="[$b cli] "
	for m in mp mt ult hybrid; do
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
			timeout 10 "$b" --root "$ROOT" --port 0 --model "$m" --sched srpt \
			>"$T/cli.out" 2>"$T/cli.err" </dev/null
		is "$?" 2 "--model $m --sched srpt: usage error, exit 2"
		like "$(cat "$T/cli.err")" 'sched srpt' "--model $m --sched srpt: says why"
	done
	timeout 10 "$b" --root "$ROOT" --port 0 --sched lifo >"$T/cli.out" 2>"$T/cli.err" </dev/null
	is "$?" 2 "--sched lifo: usage error, exit 2"
	timeout 10 "$b" --help >"$T/cli.out" 2>&1
	like "$(cat "$T/cli.out")" '--sched S' "--help documents --sched"
	like "$(cat "$T/cli.out")" 'uring +one dispatcher' "--help documents model uring"
done
V=''

# ---------------------------------------------------------------- ablation
ablate() {
	local i c etag
	for i in 1 2; do
		c=$(get /a.txt)
		ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/a.txt"; echo $?)" "$FLAG #$i: GET /a.txt" "code $c"
		[ "$i" = 1 ] && etag=$(hdr ETag)
		is "$(hdr ETag)" "$etag" "$FLAG #$i: same ETag"
		c=$(get /rand.bin)
		ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/rand.bin"; echo $?)" "$FLAG #$i: GET /rand.bin (100 KB)" "code $c"
		c=$(get /mid.bin -H 'Range: bytes=1000-1999')
		ok "$([ "$c" = 206 ] && cmp -s "$BODY" <(tail -c +1001 "$ROOT/mid.bin" | head -c 1000); echo $?)" \
			"$FLAG #$i: a range of /mid.bin" "code $c"
		c=$(get /sub/)
		ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/sub/index.html"; echo $?)" "$FLAG #$i: GET /sub/" "code $c"
		is "$(get /sub)" 301 "$FLAG #$i: GET /sub -> 301"
		is "$(get /nope.txt)" 404 "$FLAG #$i: GET /nope.txt -> 404"
		is "$(get /a.txt -H "If-None-Match: $etag")" 304 "$FLAG #$i: If-None-Match -> 304"
		c=$(get "/many/f00$i.txt")
		ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/many/f00$i.txt"; echo $?)" "$FLAG #$i: an uncached file" "code $c"
	done
}
for FLAG in --no-path-cache --no-map-cache --no-header-cache; do
	variants ablate "$FLAG" --helpers 2 --workers 2
done
done_testing
