#!/bin/bash
# --dispatchers N: N event loops in one process, threads named
# amped-disp-0..N-1, each with its own SO_REUSEPORT listener, caches and
# helpers (include/amped_names.h, user/amped/dispatcher.c).
#   - usage: 0, 65 and junk exit 2; a model without event loops of its own
#     (mp) refuses it with exit 2; auto means one per online CPU;
#   - amped, amted, uring and sped with 2: the thread names, helper names
#     unique across dispatchers, a GET, keep-alive (two requests, one
#     connection), and 64 concurrent connections of a closed loop, all
#     answered, spread over both loops: each dispatcher's own CPU time
#     (schedstat) is at least a tenth of the two's (the kernel hashes
#     connections; a loop that got none would stay near zero);
#   - lifecycle: SIGTERM with idle keep-alive connections on both loops and
#     a download in flight: the idle ones are closed, the download
#     completes whole, the server exits 0 and its helpers are gone;
#   - ampstat (root and BPF, else skipped; failed under AMPED_REQUIRE_BPF=1):
#     `top` shows a dispatcher role of 2 threads with the requests of both
#     slots counted, and `blocked` reads each dispatcher's own slot of
#     amped_current: a request it reports for amped-disp-N has an id from
#     dispatcher N's range (id >> 48 == N); `latency --sample 8` sets the
#     sampling mask in both slots (the requests it reports match the rate).
# Bounds are counts and shares, never speeds.  Numbered 69 so that
# run-tests.sh runs it in its serial pass (it loads the machine and traces).  Normal build for the load
# and ampstat parts; the sanitizer build for the basic ones.
. "$(dirname "$0")/lib.sh"

make_docroot "$ROOT"
BIN=${BINS[0]}
LOAD=build/ampload
[ -x "$LOAD" ] || { echo "Bail out! $LOAD missing (run make)"; exit 1; }

# disp_tid PID N: the tid of PID's thread named amped-disp-N
disp_tid() {
	local t
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "amped-disp-$2" ] && { basename "$t"; return; }
	done
}
cpu_ns() { cut -d' ' -f1 "/proc/$SRV_PID/task/$1/schedstat" 2>/dev/null || echo 0; }
thread_names() { cat /proc/"$1"/task/*/comm 2>/dev/null | sort; }
child_names() { local c; for c in $(pgrep -P "$1"); do cat "/proc/$c/comm"; done | sort; }

# ---- usage
for bad in 0 65 x; do
	"$BIN" --root "$ROOT" --port 0 --dispatchers "$bad" >/dev/null 2>"$T/u.err" </dev/null
	is "$?" 2 "--dispatchers $bad: usage error, exit 2"
done
"$BIN" --root "$ROOT" --port 0 --model mp --dispatchers 2 >/dev/null 2>"$T/u.err" </dev/null
rc=$?
ok "$([ $rc = 2 ] && grep -q -- '--dispatchers applies' "$T/u.err"; echo $?)" \
	"--model mp --dispatchers 2: refused, exit 2, says why" "rc=$rc $(cat "$T/u.err")"
NCPU=$(getconf _NPROCESSORS_ONLN)
if srv_start "$BIN" amped --dispatchers auto --helpers 1; then
	n=$(thread_names "$SRV_PID" | grep -c '^amped-disp')
	is "$n" "$NCPU" "--dispatchers auto: one dispatcher per online CPU ($NCPU)"
	srv_stop TERM
else
	ok 1 "--dispatchers auto: server starts"
fi

# ---- HTTP on 2 dispatchers, each model
check_model() { # BIN MODEL LOAD(0/1)
	local b=$1 m=$2 load=$3 names want h0 h1 c0 c1 k
	V="[$b $m --dispatchers 2] "
	if ! srv_start "$b" "$m" --dispatchers 2 --helpers 2; then
		ok 1 "server starts"
		V=''
		return
	fi
	like "$(head -n 1 "$SRV_OUT")" ", 2 dispatchers\)" "the listening line says 2 dispatchers"
	names=$(thread_names "$SRV_PID" | grep '^amped-disp' | tr '\n' ' ')
	is "$names" "amped-disp-0 amped-disp-1 " "threads amped-disp-0 and amped-disp-1"
	want="amped-help-0 amped-help-1 amped-help-2 amped-help-3 "
	case $m in
	amped) is "$(child_names "$SRV_PID" | tr '\n' ' ')" "$want" "4 helper processes, names unique across dispatchers" ;;
	amted) is "$(thread_names "$SRV_PID" | grep '^amped-help' | tr '\n' ' ')" "$want" \
		"4 helper threads, names unique across dispatchers" ;;
	esac
	is "$(get /1k.txt)" 200 "GET /1k.txt: 200"
	ok "$(fcmp "$BODY" "$ROOT/1k.txt"; echo $?)" "the body is the file"
	k=$("${CURL[@]}" -o /dev/null -o /dev/null -w '%{num_connects}\n' "$SRV_URL/a.txt" "$SRV_URL/sub/f.txt" | tr '\n' ' ')
	is "$k" "1 0 " "keep-alive: two requests, one connection"
	if [ "$load" = 1 ]; then
		h0=$(disp_tid "$SRV_PID" 0) h1=$(disp_tid "$SRV_PID" 1)
		c0=$(cpu_ns "$h0") c1=$(cpu_ns "$h1")
		timeout 20 "$LOAD" -c 64 -n 20000 -w 0 "$SRV_URL/1k.txt" >"$T/load.out" 2>&1
		c0=$(($(cpu_ns "$h0") - c0)) c1=$(($(cpu_ns "$h1") - c1))
		like "$(grep 'requests ' "$T/load.out")" " 0 errors, 0 unfinished" \
			"64 concurrent connections: every request answered"
		ok "$(awk -v a="$c0" -v b="$c1" 'BEGIN { t = a + b; exit !(t > 0 && a >= t / 10 && b >= t / 10) }'; echo $?)" \
			"both dispatchers served (CPU ns under load: disp-0 $c0, disp-1 $c1)" "$(cat "$T/load.out")"
	fi
	srv_stop TERM
	V=''
}
for m in amped amted uring sped; do check_model "$BIN" "$m" 1; done
if [ "${#BINS[@]}" -gt 1 ]; then
	for m in amped amted uring; do check_model "${BINS[1]}" "$m" 0; done
fi

# ---- lifecycle: SIGTERM drains both loops
V="[$BIN amped --dispatchers 2 stop] "
if srv_start "$BIN" amped --dispatchers 2 --helpers 2; then
	helpers=$(pgrep -P "$SRV_PID" | tr '\n' ' ')
	# 32 idle keep-alive connections (the kernel's hash puts some on each
	# loop), each after one answered request; prints how many the server
	# closed once it stops
	"$PY" - "$SRV_PORT" >"$T/idle.out" 2>&1 <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
socks = []
for i in range(32):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while b"hello amped\n" not in got:
        d = s.recv(4096)
        if not d:
            break
        got += d
    socks.append(s)
print("ready", flush=True)
closed = 0
deadline = time.time() + 15
for s in socks:
    s.settimeout(max(0.1, deadline - time.time()))
    try:
        if s.recv(1) == b"":
            closed += 1
    except OSError:
        pass
print("closed", closed, flush=True)
EOF
	IDLE=$!
	for i in $(seq 1 250); do grep -q ready "$T/idle.out" && break; sleep 0.02; done
	"${CURL[@]}" --limit-rate 200k -o "$T/slow.bin" "$SRV_URL/rand.bin" 2>"$T/slow.err" &
	SLOW=$!
	sleep 0.2
	srv_stop TERM
	wait "$SLOW"
	is "$?" 0 "a download in flight at SIGTERM completes"
	ok "$(fcmp "$T/slow.bin" "$ROOT/rand.bin"; echo $?)" "... whole"
	wait "$IDLE"
	is "$(grep closed "$T/idle.out")" "closed 32" "the 32 idle keep-alive connections were closed" 
	left=0
	for h in $helpers; do [ -n "$(proc_state "$h")" ] && [ "$(proc_state "$h")" != Z ] && left=$((left + 1)); done
	is "$left" 0 "the 4 helpers are gone with the server"
else
	ok 1 "server starts"
fi
V=''

# ---- ampstat sees both dispatchers
if [ "$(id -u)" != 0 ] || [ ! -x build/ampstat ]; then
	skip "ampstat on 2 dispatchers" "not root or no build/ampstat"
	done_testing
	exit $((TAP_FAILED > 0))
fi
A=build/ampstat
AS_CMD=top
. tests/ampstat_lib.sh
V="[$BIN amped --dispatchers 2 ampstat] "
if srv_start "$BIN" amped --dispatchers 2 --helpers 2; then
	timeout 20 "$LOAD" -c 64 -d 3 -w 0 "$SRV_URL/1k.txt" >"$T/load.out" 2>&1 &
	L=$!
	sleep 0.3
	if ! as_start -p "$SRV_PID" -i 1 -n 1; then
		kill "$L" 2>/dev/null; wait "$L" 2>/dev/null
		srv_stop TERM
		bpf_unavailable
	fi
	wait_exit "$AS_PID" 15 || stop_ampstat
	AS_PID=''
	row=$(awk '/summary over/ { s = 1 } s && $1 == "dispatcher" { print; exit }' "$T/as.out")
	like "$row" "^dispatcher +2 " "ampstat top: the dispatcher role has 2 threads" "$(cat "$T/as.out")"
	like "$(grep -m1 'summary over' "$T/as.out")" "requests/s [1-9]" "ampstat top counts requests" "$(cat "$T/as.out")"
	timeout 15 "$A" blocked -p "$SRV_PID" -d 1 --json --no-stacks >"$T/blk.json" 2>"$T/blk.err"
	wait "$L"
	"$PY" - "$T/blk.json" >"$T/blk.sum" <<'EOF'
import json, sys
good = bad = other = 0
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    r = e.get("request")
    if e.get("type") != "event" or not r:
        continue
    n = int(e["comm"].rsplit("-", 1)[1])
    if r["id"] >> 48 != n:
        bad += 1
    elif n > 0:
        other += 1
    else:
        good += 1
print(good, other, bad)
EOF
	read -r g o b <"$T/blk.sum"
	ok "$([ "${b:-1}" = 0 ] && [ "${o:-0}" -gt 0 ]; echo $?)" \
		"ampstat blocked reads each dispatcher's own slot ($g events of disp-0 and $o of disp-1 with their own requests, $b with another's)" \
		"$(head -c 2000 "$T/blk.err")"
	# latency --sample 8 sets the mask in both slots: a slot left at 0
	# would fire every request of its dispatcher and, each hit counting
	# for 8, report about 4.5x the requests served
	timeout 20 "$LOAD" -m open -r 5000 -c 20 -d 4 -w 0 "$SRV_URL/1k.txt" >"$T/load2.out" 2>&1 &
	L=$!
	sleep 0.5
	timeout 15 "$A" latency -p "$SRV_PID" -d 2 --sample 8 --json >"$T/lat.json" 2>"$T/lat.err"
	wait "$L"
	n=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["requests"])' "$T/lat.json" 2>/dev/null)
	ok "$(awk -v n="${n:-0}" 'BEGIN { exit !(n >= 0.3 * 5000 * 2 && n <= 2 * 5000 * 2) }'; echo $?)" \
		"ampstat latency --sample 8 counts both dispatchers' requests once ($n in 2 s at 5000/s)" \
		"$(head -c 1000 "$T/lat.err")"
	srv_stop TERM
else
	ok 1 "server starts"
fi
V=''
done_testing
