#!/bin/bash
# --model seda from outside: amped_seda (each stage's queue and service
# time, read from /proc/PID/mem by symbol, as tracers read amped_current)
# names the stages and counts what flowed through them; the overload
# policy holds under a flood with a one-slot queue (every connection gets a
# whole 200 or the documented 503, and the 503s are exactly the http
# stage's rejections); --stage-threads is parsed strictly.  Both builds.
. "$(dirname "$0")/lib.sh"

make_docroot "$ROOT"

# seda_stats: one line per stage: "name threads queue_len queue_cap enqueued rejected items busy_ns"
seda_stats() {
	"$PY" - "$SRV_PID" "$SRV_BIN" <<'PYEOF'
import struct, subprocess, sys, os
pid, exe = sys.argv[1], sys.argv[2]
sym = None
for line in subprocess.run(["nm", exe], capture_output=True, text=True).stdout.splitlines():
    f = line.split()
    if len(f) == 3 and f[2] == "amped_seda":
        sym = int(f[0], 16)
real = os.path.realpath(exe)
for line in open("/proc/%s/maps" % pid):
    f = line.split()
    if len(f) >= 6 and f[5] == real and int(f[2], 16) == 0:
        base = int(f[0].split("-")[0], 16)
        break
with open("/proc/%s/mem" % pid, "rb") as m:
    m.seek(base + sym)
    raw = m.read(3 * 64)
for i in range(3):
    rec = raw[i * 64:(i + 1) * 64]
    name = rec[:8].split(b"\0")[0].decode()
    print(name, " ".join(str(v) for v in struct.unpack("7Q", rec[8:])))
PYEOF
}
stage() { printf '%s\n' "$1" | awk -v s="$2" -v i="$3" '$1 == s { print $i }'; }

# flood N PATH: N connections at once, one request each; "200 n", "503 n", ...
flood() {
	"$PY" - "$SRV_HOST" "$SRV_PORT" "$1" "$2" <<'PYEOF'
import collections, socket, sys, threading
host, port, n, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
counts = collections.Counter()
lock = threading.Lock()
def one():
    try:
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path).encode())
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        code = head.split(b" ")[1].decode() if head else "none"
        clen = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
        if clen and len(body) != clen[0]:
            code += "-truncated"
        if code == "503" and b"queue is full" not in body:
            code = "503-undocumented"
    except OSError as e:
        code = type(e).__name__
    with lock:
        counts[code] += 1
ts = [threading.Thread(target=one) for _ in range(n)]
for t in ts: t.start()
for t in ts: t.join()
for k, v in sorted(counts.items()):
    print(k, v)
PYEOF
}

for b in "${BINS[@]}"; do
	V="[$b seda] "
	if ! srv_start "$b" seda --stage-threads http=2,file=3 --stage-queue 64; then
		ok 1 "server starts"
		continue
	fi
	like "$(head -1 "$SRV_OUT")" 'model seda, stages acc=1 http=2 file=3, queue 64' "listening line"
	for i in $(seq 1 30); do get /a.txt >/dev/null; done
	get /many/f001.txt >/dev/null
	get /many/f002.txt >/dev/null
	sleep 0.3
	s=$(seda_stats)
	ok "$([ "$(printf '%s\n' "$s" | awk '{ print $1 }' | tr '\n' ' ')" = "acc http file " ]; echo $?)" \
		"amped_seda names the stages acc, http, file" "$s"
	is "$(stage "$s" acc 2) $(stage "$s" http 2) $(stage "$s" file 2)" "1 2 3" "threads per stage"
	is "$(stage "$s" http 4) $(stage "$s" file 4)" "64 64" "queue bounds"
	ok "$([ "$(stage "$s" acc 7)" -ge 32 ] && [ "$(stage "$s" http 5)" -ge 32 ]; echo $?)" \
		"32 connections accepted and queued for http ($(stage "$s" acc 7), $(stage "$s" http 5))" "$s"
	ok "$([ "$(stage "$s" file 7)" -ge 3 ] && [ "$(stage "$s" file 8)" -gt 0 ]; echo $?)" \
		"the file stage ran the path lookups ($(stage "$s" file 7) jobs, $(stage "$s" file 8) ns)" "$s"
	ok "$([ "$(stage "$s" http 3)" = 0 ] && [ "$(stage "$s" file 3)" = 0 ]; echo $?)" "queues empty when idle" "$s"
	ok "$([ "$(stage "$s" http 8)" -gt 0 ]; echo $?)" "http stage service time accounted" "$s"
	diag "stages after 32 requests: $(printf '%s; ' "$s")"
	srv_stop TERM

	V="[$b seda overload] "
	if srv_start "$b" seda --stage-queue 1 --stage-threads http=1 --max-conns 1000; then
		out=$(flood 200 /1k.txt)
		s=$(seda_stats)
		c200=$(printf '%s\n' "$out" | awk '$1 == "200" { print $2 }')
		c503=$(printf '%s\n' "$out" | awk '$1 == "503" { print $2 }')
		ok "$([ "$((${c200:-0} + ${c503:-0}))" -eq 200 ]; echo $?)" \
			"200 connections at once, queue of 1: each got a whole 200 or the documented 503" "$out"
		is "${c503:-0}" "$(stage "$s" http 6)" "the 503s are the http stage's rejections (amped_seda)"
		is "$(get /a.txt)" 200 "serves after the flood"
		diag "flood against a one-slot queue: $(echo $out)"
		srv_stop TERM
	else
		ok 1 "server starts"
	fi

	V="[$b seda cli] "
	for spec in http=0 acc=2 nope=1 http=2,file http=65; do
		timeout 10 "$b" --root "$ROOT" --port 0 --model seda --stage-threads "$spec" >/dev/null 2>"$T/cli.err"
		is "$?" 2 "--stage-threads $spec: usage error"
	done
	like "$(cat "$T/cli.err")" 'stage-threads' "says which option"
done
V=''
done_testing
