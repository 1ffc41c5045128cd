#!/bin/bash
# --model ult from outside: the counters a profile reads (amped_ult, found
# by symbol the way ampstat finds amped_current, read from /proc/PID/mem),
# one user-level thread per connection, the pool's reuse, the disk work
# handed to the kernel helper threads (a page-cache miss parks the
# user-level thread, not the kernel one: another client is served
# meanwhile), --ult-switch ucontext, --ult-stack-kb, and the threads the
# kernel sees (one amped-disp + --helpers amped-help-N).  Both builds.
. "$(dirname "$0")/lib.sh"

make_docroot "$ROOT"
head -c $((4 << 20)) /dev/urandom >"$ROOT/cold.bin"

# ult_stats: "switches created live parks_fd parks_job stacks_mapped stack_bytes switch_asm"
ult_stats() {
	"$PY" - "$SRV_PID" "$SRV_BIN" <<'PYEOF'
import struct, subprocess, sys, os
pid, exe = sys.argv[1], sys.argv[2]
sym = None
for line in subprocess.run(["nm", exe], capture_output=True, text=True).stdout.splitlines():
    f = line.split()
    if len(f) == 3 and f[2] == "amped_ult":
        sym = int(f[0], 16)
real = os.path.realpath(exe)
base = None
for line in open("/proc/%s/maps" % pid):
    f = line.split()
    if len(f) >= 6 and f[5] == real and int(f[2], 16) == 0:
        base = int(f[0].split("-")[0], 16)
        break
with open("/proc/%s/mem" % pid, "rb") as m:
    m.seek(base + sym)
    print(" ".join(str(v) for v in struct.unpack("8Q", m.read(64))))
PYEOF
}
field() { echo "$1" | awk -v i="$2" '{ print $i }'; }

for b in "${BINS[@]}"; do
	V="[$b ult] "
	if ! srv_start "$b" ult --helpers 3 --keepalive-timeout-ms 30000; then
		ok 1 "server starts"
		continue
	fi
	like "$(head -1 "$SRV_OUT")" 'model ult, 3 helpers, stack 64 KiB, switch asm, poller epoll' "listening line"
	names=$(for t in /proc/"$SRV_PID"/task/*; do cat "$t/comm"; done | sort | tr '\n' ' ')
	is "$names" "amped-disp amped-help-0 amped-help-1 amped-help-2 " "kernel threads: the scheduler (amped-disp) and 3 helpers"
	s0=$(ult_stats)
	ok "$([ -n "$s0" ]; echo $?)" "amped_ult readable from /proc/PID/mem" "$s0"
	is "$(field "$s0" 8)" 1 "switch_asm = 1"
	want=65536
	is_asan "$b" && want=$((want * 4))	# the sanitizer's redzones
	is "$(field "$s0" 7)" $want "stack_bytes = 64 KiB$(is_asan "$b" && echo ' x 4 under ASan')"
	# 20 connections, 5 requests each (keep-alive)
	"$PY" - "$SRV_HOST" "$SRV_PORT" <<'PYEOF' >"$T/kc.out"
import socket, sys
ok = 0
for i in range(20):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    f = s.makefile("rb")
    for j in range(5):
        s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        st = f.readline()
        clen = 0
        while True:
            h = f.readline()
            if h in (b"\r\n", b""):
                break
            if h.lower().startswith(b"content-length:"):
                clen = int(h.split(b":")[1])
        f.read(clen)
        ok += st.startswith(b"HTTP/1.1 200")
    s.close()
print(ok)
PYEOF
	is "$(cat "$T/kc.out")" 100 "20 keep-alive connections x 5 requests: 100 x 200"
	sleep 0.3
	s1=$(ult_stats)
	is "$(( $(field "$s1" 2) - $(field "$s0" 2) ))" 20 "one user-level thread per connection (20 created)"
	is "$(field "$s1" 3)" 0 "all of them ended once their clients closed (live 0)"
	ok "$([ $(( $(field "$s1" 1) - $(field "$s0" 1) )) -ge 200 ]; echo $?)" \
		"context switches counted: >= 2 per request ($(( $(field "$s1" 1) - $(field "$s0" 1) )))"
	ok "$([ "$(field "$s1" 6)" -lt 20 ]; echo $?)" "stacks reused from the pool ($(field "$s1" 6) mapped for $(field "$s1" 2) threads)"
	diag "ult counters after 100 requests: $s1 (switches created live parks_fd parks_job stacks_mapped stack_bytes switch_asm)"

	# A page-cache miss: the thread parks on a helper, the kernel thread
	# goes on serving.  Make the file cold, fetch it, count helper parks.
	get /cold.bin >/dev/null
	"$PY" -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)' "$ROOT/cold.bin"
	s2=$(ult_stats)
	c=$(get /cold.bin)
	s3=$(ult_stats)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/cold.bin"; echo $?)" "a cold 4 MiB file served intact" "code $c"
	ok "$([ "$(field "$s3" 5)" -gt "$(field "$s2" 5)" ]; echo $?)" \
		"its non-resident pages were read by a helper while the user-level thread parked (parks_job $(field "$s2" 5) -> $(field "$s3" 5))"
	srv_stop TERM

	V="[$b ult ucontext] "
	if srv_start "$b" ult --ult-switch ucontext --ult-stack-kb 128; then
		is "$(get /a.txt)" 200 "GET /a.txt"
		s=$(ult_stats)
		is "$(field "$s" 8)" 0 "switch_asm = 0"
		like "$(head -1 "$SRV_OUT")" 'stack 128 KiB, switch ucontext' "listening line"
		srv_stop TERM
	else
		ok 1 "server starts"
	fi
	V="[$b ult cli] "
	timeout 10 "$b" --root "$ROOT" --port 0 --model ult --ult-switch fibers >/dev/null 2>&1
	is "$?" 2 "--ult-switch fibers: usage error"
	timeout 10 "$b" --root "$ROOT" --port 0 --model ult --ult-stack-kb 4 >/dev/null 2>&1
	is "$?" 2 "--ult-stack-kb 4: usage error (below 16)"
done
V=''
done_testing
