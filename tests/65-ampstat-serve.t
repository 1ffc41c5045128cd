#!/bin/bash
# ampstat serve: usage errors exit 2 (a non-loopback --listen without
# --allow-remote among them; with it: a warning, and it listens there);
# not root and no such process exit 1; against amped under wrk load, curl
# gets /metrics in the Prometheus text format (0.0.4: every sample line
# parses, every metric has HELP and TYPE), a dispatcher with 1 thread and
# helpers; between two scrapes every counter grows or stays, the
# dispatcher's buckets sum to the wall time between the scrapes (1%) and
# ampstat_requests_total grows by wrk's requests (+ at most 20 in flight);
# other paths 404, other methods 405; a port in use exits 1; SIGINT and
# the target's exit end it with exit 0.
# Root only for the BPF part; without BPF it skips, unless
# AMPED_REQUIRE_BPF=1 (then fails).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
A=build/ampstat
AS_CMD=serve
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top
[ -x $A ] || { echo "Bail out! $A missing (run make)"; exit 1; }
AS_PID=''
cleanup() {
	if declare -F umount_fs >/dev/null && [ -n "${MNT:-}" ]; then umount_fs; fi
	if [ -n "$AS_PID" ] && kill -0 "$AS_PID" 2>/dev/null; then
		kill -KILL "$AS_PID" 2>/dev/null; wait "$AS_PID" 2>/dev/null
	fi
	lib_cleanup
}
trap cleanup EXIT

# ---- the command-line contract (ampstat_lib.sh), a non-loopback --listen
# without --allow-remote among the usage errors
as_cli_contract -x "--listen 127.0.0.1:0" "--listen 10.1.2.3:9464" "--listen 0.0.0.0:9464" \
	"--listen [::]:9464" "--listen nonsense" "--listen 127.0.0.1:99999" "--listen 127.0.0.1:" "--json" "-i 0" \
	"--pidfile x --exe amped" "--exe a/b" "--exe" "--listen nonsense --allow-remote"
timeout 10 $A serve -p 1 --listen 192.168.1.1:9464 >/dev/null 2>"$T/err"
like "$(cat "$T/err")" "not a loopback address.*needs --allow-remote" "a non-loopback address is refused, with a message"
timeout 10 $A serve --pidfile "$T/no-such-pidfile" --listen 127.0.0.1:0 >/dev/null 2>"$T/err"
is "$?" 1 "--pidfile without the file: exits 1"
like "$(cat "$T/err")" "no-such-pidfile: No such file" "--pidfile without the file: says so"
echo garbage >"$T/bad.pid"
timeout 10 $A serve --pidfile "$T/bad.pid" --listen 127.0.0.1:0 >/dev/null 2>"$T/err"
is "$?" 1 "--pidfile with no pid in it: exits 1"

# as_start ARGS...: ampstat serve in the background; sets MURL
as_start() {
	: >"$T/as.err"
	$A serve "$@" >"$T/as.out" 2>"$T/as.err" &
	AS_PID=$!
	local i
	for i in $(seq 1 500); do
		MURL=$(sed -n 's|.*serving \(http://[^ ;]*\);.*|\1|p' "$T/as.err")
		[ -n "$MURL" ] && return 0
		kill -0 "$AS_PID" 2>/dev/null || break
		sleep 0.02
	done
	return 1
}

make_docroot "$ROOT"
srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
as_start -p "$SRV_PID" --listen 127.0.0.1:0 || bpf_unavailable
ok 0 "ampstat serve attaches and listens ($MURL)"
like "$MURL" '^http://127\.0\.0\.1:[0-9]+/metrics$' "it listens on the loopback address asked for"

code=$(curl -s -o "$T/m1" -D "$T/h1" -w '%{http_code}' --max-time 10 "$MURL")
is "$code" 200 "GET /metrics: 200"
like "$(cat "$T/h1")" $'Content-Type: text/plain; version=0\\.0\\.4' "Content-Type of the text format 0.0.4"
# validate: every line a comment (HELP/TYPE) or a sample; HELP and TYPE for
# every metric, before its samples; label values quoted
cat >"$T/check.py" <<'EOF'
import re, sys
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')
helps, types, bad, n = set(), {}, [], 0
for line in open(sys.argv[1]).read().splitlines():
    if line.startswith("# HELP "):
        helps.add(line.split()[2])
    elif line.startswith("# TYPE "):
        f = line.split()
        if f[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
            bad.append(line)
        types[f[2]] = f[3]
    elif line.startswith("#") or not line:
        continue
    else:
        m = sample.match(line)
        n += 1
        name = m.group(1) if m else ""
        # a histogram's series: NAME_bucket (with le), NAME_sum, NAME_count
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if base != name and types.get(base) == "histogram":
            name = base
            if line.startswith(base + "_bucket") and 'le="' not in line:
                bad.append("bucket without le: " + line)
        if not m or name not in types or name not in helps:
            bad.append(line)
        elif types[name] == "counter" and not name.endswith("_total"):
            bad.append("counter without _total: " + line)
print("samples=%d bad=%d %s" % (n, len(bad), " | ".join(bad[:3])))
EOF
check=$("$PY" "$T/check.py" "$T/m1")
like "$check" "^samples=[1-9][0-9]* bad=0 " "the exposition parses ($check)"
# metric FILE SERIES: a sample's value
metric() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }
is "$(metric "$T/m1" 'ampstat_role_threads{role="dispatcher"}')" 1 "dispatcher: 1 thread"
ok "$([ "$(metric "$T/m1" 'ampstat_role_threads{role="helpers"}')" -ge 1 ]; echo $?)" "helpers: at least 1 thread"
like "$(cat "$T/m1")" "ampstat_target_info\\{pid=\"$SRV_PID\"" "target_info names the pid"
# Prometheus's naming conventions (issue 17): a label only where it
# partitions the metric, no always-zero series for roles the model lacks
like "$(cat "$T/m1")" 'ampstat_build_info\{version="[^"]+",libbpf="[0-9]+\.[0-9]+",kernel="[^"]+"\} 1' "build_info"
like "$(cat "$T/m1")" 'ampstat_role_seconds_total\{role="dispatcher",state="wait_idle"\} ' "the states are label state"
unlike "$(cat "$T/m1")" 'bucket=' "no label named bucket"
like "$(cat "$T/m1")" 'ampstat_role_cache_missed_pages_total\{role="helpers"\} [0-9]+' "cache misses are a counter of their own"
unlike "$(cat "$T/m1")" 'kind="(access|miss)"' "no kind label beside accesses"
unlike "$(cat "$T/m1")" 'ampstat_kernel_seconds_total\{class="softirq_in_target"' \
	"the kernel row holds no softirq of the target (it is in the roles' kernel time)"
like "$(cat "$T/m1")" 'ampstat_softirq_seconds_total\{context="target"\} ' "softirq by context, a metric of its own"
roles_threads=$(sed -n 's/^ampstat_role_threads{role="\([^"]*\)"}.*/\1/p' "$T/m1" | sort | tr '\n' ' ')
roles_secs=$(sed -n 's/^ampstat_role_seconds_total{role="\([^"]*\)",state="user"}.*/\1/p' "$T/m1" | sort | tr '\n' ' ')
is "$roles_threads" "dispatcher helpers " "series only for the roles amped's model has"
is "$roles_secs" "$roles_threads" "time series for the same roles"

if command -v wrk >/dev/null; then
	timeout 20 wrk -t1 -c10 -d1s "$SRV_URL/1k.txt" >"$T/wrk.out" 2>&1
	nreq=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$T/wrk.out")
else
	for i in $(seq 1 50); do get /1k.txt >/dev/null; done
	nreq=50
fi
sleep 0.3
curl -s -o "$T/m2" --max-time 10 "$MURL"
cat >"$T/diff.py" <<'EOF'
import sys
def load(p):
    d = {}
    for line in open(p).read().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            d[k] = float(v)
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
dec = [k for k in a if k.split("{")[0].endswith("_total") and k in b and b[k] < a[k]]
wall = b["ampstat_trace_seconds"] - a["ampstat_trace_seconds"]
disp = sum(b[k] - a[k] for k in b if k.startswith('ampstat_role_seconds_total{role="dispatcher"'))
req = b.get("ampstat_requests_total", -1) - a.get("ampstat_requests_total", 0)
k = 'ampstat_role_seconds_total{role="dispatcher",state="kernel"}'
print(len(dec), "%.6f" % wall, "%.6f" % disp, int(req), "ok" if abs(disp - wall) <= 0.01 * wall else "off",
      "%.6f" % (b[k] - a[k]))
EOF
read -r ndec wall disp req sumok kern <<<"$("$PY" "$T/diff.py" "$T/m1" "$T/m2")"
is "$ndec" 0 "between two scrapes no counter decreased"
is "$sumok" ok "dispatcher: buckets sum to the wall time between scrapes within 1% ($disp s vs $wall s)"
ok "$([ -n "$nreq" ] && [ "${req:-0}" -ge "$nreq" ] && [ "${req:-0}" -le $((nreq + 20)) ]; echo $?)" \
	"requests_total grew by the client's requests ($req vs $nreq + at most 20 in flight)"
ok "$("$PY" -c "import sys; sys.exit(0 if float('${kern:-0}') > 0 else 1)"; echo $?)" "the dispatcher spent kernel time serving ($kern s)"
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${MURL%/metrics}/nope")" 404 "other paths: 404"
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "$MURL")" 405 "other methods: 405"
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -I "$MURL")" 200 "HEAD /metrics: 200"
like "$(metric "$T/m2" 'ampstat_scrapes_total')" '^[1-9]' "scrapes are counted"
like "$(cat "$T/m2")" 'ampstat_bpf_run_seconds_total\{prog="as_switch"\} [0-9.]+' "its own BPF cost is exported"

# --allow-remote: the wildcard address, with a warning; only loopback
# clients here (curl to 127.0.0.1)
AS_PID_LOOP=$AS_PID MURL_LOOP=$MURL
if as_start -p "$SRV_PID" --listen 0.0.0.0:0 --allow-remote; then
	like "$(cat "$T/as.err")" "warning: serving on 0\.0\.0\.0:[0-9]+, beyond this host" "--allow-remote: a warning on stderr"
	port=${MURL#http://0.0.0.0:}; port=${port%/metrics}
	is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/metrics")" 200 \
		"--listen 0.0.0.0:0 --allow-remote: listens on every address"
	as_stop
	is "$RC_AS" 0 "--allow-remote: SIGINT: exits 0"
else
	ok 1 "--listen 0.0.0.0:0 --allow-remote starts" "$(cat "$T/as.err")"
fi
AS_PID=$AS_PID_LOOP MURL=$MURL_LOOP

# a port in use: exit 1
port=${MURL#http://127.0.0.1:}; port=${port%/metrics}
timeout 10 $A serve -p "$SRV_PID" --listen "127.0.0.1:$port" >/dev/null 2>"$T/err2"
is "$?" 1 "a port in use: exits 1"
like "$(cat "$T/err2")" "listen on 127.0.0.1:$port" "a port in use: says so"

kill -INT "$AS_PID"
if wait_exit "$AS_PID" 10; then is "$RC" 0 "SIGINT: exits 0"; else ok 1 "SIGINT: exits within 10 s"; fi
AS_PID=''

# IPv6 loopback if there is one; the target exits: exit 0
if as_start -p "$SRV_PID" --listen '[::1]:0'; then
	like "$MURL" '^http://\[::1\]:[0-9]+/metrics$' "--listen [::1]:0 listens on ::1"
else
	as_start -p "$SRV_PID" --listen 127.0.0.1:0 || bpf_unavailable
fi
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$MURL")
is "$code" 200 "second serve ($MURL) answers"
srv_stop TERM
if wait_exit "$AS_PID" 10; then is "$RC" 0 "target exits: exits 0"; else ok 1 "target exits: exits within 10 s"; fi
AS_PID=''
like "$(cat "$T/as.err")" "serve ends \(target exited\)" "target exits: says so"

# ---- --latency: the request-latency histogram (every request traced
# below 4,000/s: its count is the requests made)
srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
as_start -p "$SRV_PID" --listen 127.0.0.1:0 --latency || bpf_unavailable
for i in $(seq 1 50); do get /1k.txt >/dev/null; done
curl -s -o "$T/l1" --max-time 10 "$MURL"
check=$("$PY" "$T/check.py" "$T/l1")
like "$check" "^samples=[1-9][0-9]* bad=0 " "--latency: the exposition parses ($check)"
is "$(metric "$T/l1" ampstat_request_duration_seconds_count)" 50 "--latency: the histogram counts the 50 requests"
is "$(metric "$T/l1" 'ampstat_request_duration_seconds_bucket{le="+Inf"}')" 50 "--latency: +Inf bucket = count"
nondec=$(awk '/^ampstat_request_duration_seconds_bucket/ { if ($2 < last) bad = 1; last = $2; n++ } END { print n, bad + 0 }' "$T/l1")
is "$nondec" "26 0" "--latency: 26 buckets (1 us .. 17 s, +Inf), cumulative"
like "$(cat "$T/l1")" 'ampstat_request_phase_seconds_total\{phase="sending"\} [0-9.]+' "--latency: time by phase"
lat=$(curl -s --max-time 10 "${MURL%/metrics}/api/now" | "$PY" -c 'import json, sys; l = json.load(sys.stdin)["latency"]; print(sum(l["counts"]), len(l["counts"]), len(l["le_s"]))')
is "$lat" "50 26 25" "--latency: /api/now has the histogram (per bucket, +Inf last)"
as_stop
is "$RC_AS" 0 "--latency: SIGINT: exits 0"
srv_stop TERM

# ---- --stalls: a SPED dispatcher reading cold files behind a slow disk
# (slowfs, one arm, 200 ms a read) stalls in D state; serve lists each
# stall with the request it served, and counts them by state
SRC=$T/src MNT=$T/mnt LAT_MS=200 FS_PID=''
mkdir -p "$SRC" "$MNT"
cold_files 2 65
if mount_fs; then
	ROOT_SAVED=$ROOT ROOT=$MNT
	srv_start "$AMPED_BIN" sped || { ok 1 "server starts"; done_testing; exit 1; }
	ROOT=$ROOT_SAVED
	as_start -p "$SRV_PID" --listen 127.0.0.1:0 --stalls || bpf_unavailable
	codes=$(get /cold0.bin --max-time 30)$(get /cold1.bin --max-time 30)
	is "$codes" 200200 "--stalls: two cold files served through the slow disk"
	sleep 0.3
	curl -s -o "$T/s1" --max-time 10 "$MURL"
	curl -s -o "$T/s1.json" --max-time 10 "${MURL%/metrics}/api/now"
	n=$(metric "$T/s1" 'ampstat_dispatcher_stalls_total{state="blocked_io"}')
	ok "$([ "${n:-0}" -ge 2 ]; echo $?)" "--stalls: at least 2 blocked_io stalls counted ($n)"
	sec=$(metric "$T/s1" 'ampstat_dispatcher_stall_seconds_total{state="blocked_io"}')
	ok "$(awk -v s="${sec:-0}" -v l=$LAT_MS 'BEGIN { exit !(s >= 2 * l / 1000 / 2) }'; echo $?)" \
		"--stalls: their time is at least half the modelled disk time ($sec s)"
	reqs=$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(sorted(set(s["request"] for s in d["stalls"] if s["state"] == "blocked-io" and s["ms"] >= 50))))' "$T/s1.json")
is "$reqs" "GET /cold0.bin GET /cold1.bin" "--stalls: /api/now lists the stalls with the requests they served"
	check=$("$PY" "$T/check.py" "$T/s1")
	like "$check" "^samples=[1-9][0-9]* bad=0 " "--stalls: the exposition parses ($check)"
	as_stop
	is "$RC_AS" 0 "--stalls: SIGINT: exits 0"
	srv_stop TERM
else
	ok 1 "slowfs mounts" "$(cat "$T/slowfs.err")"
fi
umount_fs

# ---- --pidfile: serve follows the target through a restart, and its
# counters go on (none decreases; requests add up over both processes)
srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
echo "$SRV_PID" >"$T/amped.pid"
as_start --pidfile "$T/amped.pid" --listen 127.0.0.1:0 || bpf_unavailable
old_pid=$SRV_PID
for i in $(seq 1 30); do get /1k.txt >/dev/null; done
curl -s -o "$T/r1" --max-time 10 "$MURL"
srv_stop TERM
for i in $(seq 1 50); do grep -q "waiting for the next one" "$T/as.err" && break; sleep 0.1; done
curl -s -o "$T/r2" --max-time 10 "$MURL"
is "$(metric "$T/r2" ampstat_target_up)" 0 "target gone: serve still answers, ampstat_target_up 0"
like "$(cat "$T/as.err")" "pid $old_pid exited; waiting for the next one \(--pidfile" "target gone: says it waits"
srv_start "$AMPED_BIN" amped || { ok 1 "server restarts"; done_testing; exit 1; }
echo "$SRV_PID" >"$T/amped.pid.new" && mv "$T/amped.pid.new" "$T/amped.pid"
for i in $(seq 1 50); do grep -q "following the restarted target: pid $SRV_PID" "$T/as.err" && break; sleep 0.1; done
like "$(cat "$T/as.err")" "following the restarted target: pid $SRV_PID" "the restarted target is followed"
for i in $(seq 1 30); do get /1k.txt >/dev/null; done
sleep 0.3
curl -s -o "$T/r3" --max-time 10 "$MURL"
like "$(cat "$T/r3")" "ampstat_target_info\\{pid=\"$SRV_PID\"" "target_info names the new pid"
is "$(metric "$T/r3" ampstat_target_restarts_total)" 1 "ampstat_target_restarts_total 1"
is "$(metric "$T/r3" ampstat_target_up)" 1 "ampstat_target_up 1 again"
is "$(metric "$T/r3" 'ampstat_role_threads{role="dispatcher"}')" 1 "the new dispatcher: 1 live thread"
read -r ndec12 _ <<<"$("$PY" "$T/diff.py" "$T/r1" "$T/r2")"
read -r ndec23 _ <<<"$("$PY" "$T/diff.py" "$T/r2" "$T/r3")"
is "$ndec12 $ndec23" "0 0" "no counter decreased through the restart"
r1=$(metric "$T/r1" ampstat_requests_total) r3=$(metric "$T/r3" ampstat_requests_total)
ok "$([ "$((r3 - r1))" -ge 30 ] && [ "$((r3 - r1))" -le 40 ]; echo $?)" \
	"requests_total counts the new process's requests on top ($r1 -> $r3)"
as_stop
is "$RC_AS" 0 "--pidfile: SIGINT: exits 0"
srv_stop TERM
done_testing
exit $((TAP_FAILED > 0))
