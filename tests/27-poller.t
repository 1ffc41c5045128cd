#!/bin/bash
# --poller: select's FD_SETSIZE limit answered, not crashed on.  A server
# (sped, ult, seda) under --poller select holding ~1,100 keep-alive connections: each one's
# first request is answered (200 below fd 1024, a documented 503 with
# "Connection: close" at or above it), none hangs or is reset, and the
# server still serves and stops cleanly afterwards.  The same load against
# --poller poll gets 200 everywhere (poll has no such limit).  Plus the
# CLI: a bad poller name and --poller with a blocking model are usage
# errors.  Both builds; the HTTP suites run the pollers through
# tests/lib.sh's MODEL+POLLER variants.
. "$(dirname "$0")/lib.sh"

make_docroot "$ROOT"
NCONN=1100

# many_conns N: open N keep-alive connections one by one, each sending a
# request and reading the answer's status; then one more request on a
# fresh connection.  Prints "CODE COUNT" lines, then "fresh CODE".
many_conns() {
	"$PY" - "$SRV_HOST" "$SRV_PORT" "$1" <<'PYEOF'
import collections, resource, socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
req = b"GET /1k.txt HTTP/1.1\r\nHost: t\r\n\r\n"
def ask(s):
    s.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            return "eof" if not buf else "short"
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    code = head.split(b" ")[1].decode()
    clen = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            clen = int(v)
    while len(body) < clen:
        d = s.recv(4096)
        if not d:
            return code + "-truncated"
        body += d
    if code == "503":
        if b"select" not in body or b"connection: close" not in head.lower():
            return "503-undocumented"
    return code
held, counts = [], collections.Counter()
for i in range(n):
    s = socket.create_connection((host, port), timeout=10)
    try:
        counts[ask(s)] += 1
    except socket.timeout:
        counts["timeout"] += 1
    except OSError as e:
        counts["error-" + type(e).__name__] += 1
    held.append(s)
for k, v in sorted(counts.items()):
    print(k, v)
for s in held:
    s.close()
# The server frees the descriptors as it sees the closes: until it has seen
# enough of them, a new connection can still land at fd >= 1024 and get the
# documented 503.  So ask again (a new connection each time) for up to 10 s.
import time
deadline = time.monotonic() + 10
tries = 0
while True:
    tries += 1
    s = socket.create_connection((host, port), timeout=10)
    try:
        code = ask(s)
    except OSError as e:
        code = type(e).__name__
    s.close()
    if code != "503" or time.monotonic() > deadline:
        break
    time.sleep(0.1)
print("fresh", code)
print("fresh-tries", tries)
PYEOF
}

for b in "${BINS[@]}"; do
for m in sped ult seda; do
	V="[$b $m select] "
	if srv_start "$b" $m --poller select --keepalive-timeout-ms 60000; then
		like "$(head -1 "$SRV_OUT")" 'poller select\)' "listening line names the poller"
		out=$(many_conns $NCONN)
		c200=$(printf '%s\n' "$out" | awk '$1 == "200" { print $2 }')
		c503=$(printf '%s\n' "$out" | awk '$1 == "503" { print $2 }')
		ok "$([ "$((${c200:-0} + ${c503:-0}))" -eq $NCONN ]; echo $?)" \
			"$NCONN connections: each got a whole 200 or a documented 503 (no hang, reset, or truncation)" "$out"
		ok "$([ "${c200:-0}" -ge 900 ] && [ "${c200:-0}" -lt 1024 ]; echo $?)" \
			"the connections below fd 1024 were served (${c200:-0})" "$out"
		ok "$([ "${c503:-0}" -ge $((NCONN - 1024)) ]; echo $?)" \
			"those at fd 1024 and above got 503 (${c503:-0})" "$out"
		is "$(printf '%s\n' "$out" | sed -n 's/^fresh //p')" 200 \
			"after they closed, a new connection is served within 10 s ($(printf '%s\n' "$out" | sed -n 's/^fresh-tries //p') tries)"
		ok "$(kill -0 "$SRV_PID" 2>/dev/null; echo $?)" "server still running"
		srv_stop TERM
	else
		ok 1 "server starts (select)"
	fi
done

	V="[$b poll] "
	if srv_start "$b" sped --poller poll --keepalive-timeout-ms 60000; then
		out=$(many_conns $NCONN)
		is "$(printf '%s\n' "$out" | awk '$1 == "200" { print $2 }')" $NCONN \
			"--poller poll: all $NCONN connections served (no fd limit)"
		srv_stop TERM
	else
		ok 1 "server starts (poll)"
	fi

	V="[$b cli] "
	timeout 10 "$b" --root "$ROOT" --port 0 --poller kqueue >"$T/cli.out" 2>"$T/cli.err" </dev/null
	is "$?" 2 "--poller kqueue: usage error, exit 2"
	for m in mp mt; do
		timeout 10 "$b" --root "$ROOT" --port 0 --model $m --poller poll >"$T/cli.out" 2>"$T/cli.err" </dev/null
		is "$?" 2 "--model $m --poller poll: usage error, exit 2"
		like "$(cat "$T/cli.err")" 'poller applies to' "--model $m --poller: says why"
	done
	timeout 10 "$b" --help >"$T/cli.out" 2>&1
	like "$(cat "$T/cli.out")" '--poller P' "--help documents --poller"
done
V=''
done_testing
