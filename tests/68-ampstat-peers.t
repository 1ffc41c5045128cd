#!/bin/bash
# ampstat top on the peers, nginx and lighttpd, behind a slow disk (slowfs,
# one arm, LAT_MS per read), with the built-in role profiles (roles.h).
#
# nginx with `aio threads`: its master, its worker and the 32 threads of
# the worker's pool all have the name "nginx"; the profile tells them apart
# by process title and main thread (master, worker, aio-threads).  NFILES
# cold 64 KiB files are fetched one after another: each needs at least one
# LAT_MS disk read, which nginx does in its pool, so the aio-threads spend
# >= NFILES * LAT_MS in D state.  Bounds: aio-threads' blocked-io >= half
# of that, and the worker's <= a tenth (it only opens and stats, which
# slowfs answers at once), never speeds.
# lighttpd reads files in its one event loop (SPED-like): the same fetches
# put the event-loop role itself in blocked-io >= half of NFILES * LAT_MS.
# Both: requests_per_s is null (they have no amped counter), per thread the
# six buckets sum to wall time within 1%.  Also: --role NAME=cmd:REGEX
# takes the worker process (its leader and its pool) before the profile,
# and a bad selector is a usage error (exit 2) that names it.
# The opt-in modes key their maps by thread and take the same roles: on
# nginx, each over NFILES fresh cold files, `ampstat syscalls` shows the
# aio-threads role apart from the worker, with the file reads (pread64, or
# sendfile when nginx hands sendfile to its pool) and the worker with its
# epoll_wait; `ampstat cache` puts the misses (>= one 16-page file each)
# in aio-threads and none in the worker; `ampstat offcpu --folded` has
# lines "aio-threads;nginx;[blocked-io];..." summing to >= half of NFILES *
# LAT_MS and "worker;nginx;[wait-idle];..." ones.
# nginx and lighttpd are installed (scripts/deps.sh) when missing.
# Root only; without BPF it skips, unless AMPED_REQUIRE_BPF=1 (then fails).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
A=build/ampstat
AS_CMD=top
. tests/ampstat_lib.sh

# ---- usage errors need neither root nor a server
timeout 10 $A top -p 1 --role 'x=bogus:y' >/dev/null 2>"$T/err"
is "$?" 2 "--role x=bogus:y: exit 2"
like "$(cat "$T/err")" "unknown selector 'bogus:'" "--role x=bogus:y: the message names the selector"
timeout 10 $A top -p 1 --role 'x=cmd:' >/dev/null 2>"$T/err"
is "$?" 2 "--role x=cmd: (no regex): exit 2"
timeout 10 $A top -p 1 --role 'x=thread:cmd:(' >/dev/null 2>"$T/err"
is "$?" 2 "--role x=thread:cmd:( (bad regex): exit 2"
like "$($A top --help)" "cmd:REGEX" "top --help documents the selectors"

if [ "$(id -u)" -ne 0 ]; then
	if [ "${AMPED_REQUIRE_BPF:-0}" = 1 ]; then ok 1 "BPF required but not root"; done_testing; exit 1; fi
	skip "nginx and lighttpd under ampstat" "needs root"; done_testing; exit 0
fi
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	skip "nginx and lighttpd under ampstat" "no FUSE"; done_testing; exit 0
fi
for b in build/slowfs build/ampstat; do
	[ -x "$b" ] || { echo "Bail out! $b missing (run make)"; exit 1; }
done
# the peers' installation, configurations and start-up come from the
# experiments' library; its EXIT trap is replaced by ours below, which
# calls its cleanup
EXP_NAME=68-ampstat-peers
. scripts/lib-exp.sh
# as the benches do: installed through scripts/deps.sh if missing
if ! exp_install_peers 2>"$T/install.err"; then
	skip "nginx and lighttpd under ampstat" "cannot install them: $(tail -1 "$T/install.err")"
	done_testing; exit 0
fi

SRC=$T/src MNT=$T/mnt WORK=$T/work
FS_PID='' AS_PID=''
LAT_MS=200 NFILES=4
mkdir -p "$SRC" "$MNT" "$WORK"
cold_files $((NFILES * 4)) 68	# a fresh set of NFILES for each of 4 runs
printf '<html>peers</html>\n' >"$SRC/index.html"

stop_server() {
	[ -n "${SRV_PID:-}" ] && exp_stop_pid "$SRV_PID" 5000
	SRV_PID=''
}
cleanup() {
	stop_ampstat
	exp_cleanup	# the servers it started, by pid
	umount_fs
	rm -rf "$T"
}
trap cleanup EXIT

# wait_up URL: until it answers 200, at most 10 s
wait_up() {
	local i
	for i in $(seq 1 100); do
		[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null)" = 200 ] && return 0
		kill -0 "$SRV_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# fetch_cold [SET]: the NFILES cold files of set SET (default 0) once, one
# after another; prints the codes
fetch_cold() {
	local i first=$((${1:-0} * NFILES))
	SRV_URL=http://127.0.0.1:$PORT
	for i in $(seq "$first" $((first + NFILES - 1))); do
		get "/cold$i.bin" --max-time 30
	done
}

# summary JSONFILE ROLE...: the summary's figures, one line:
#   requests_per_s threads_of_each_ROLE... blocked_io_ns_of_each_ROLE...
#   oncpu_ns_of_each_ROLE... per-thread-sum-violations
summary() {
	tail -n 1 "$1" | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
roles = {r["role"]: r for r in s["roles"]}
want = sys.argv[1:]
bad = []
for t in s["threads"]:
    b = sum(t[k + "_ns"] for k in ("user", "kernel", "blocked_io", "wait_idle", "wait_other", "runq", "steal"))
    if abs(b - t["wall_ns"]) > 0.01 * t["wall_ns"]:
        bad.append("%s/%d:%d-vs-%d" % (t["role"], t["tid"], b, t["wall_ns"]))
out = [str(s["requests_per_s"]).lower()]
out += [str(roles[w]["threads"]) if w in roles else "0" for w in want]
out += [str(roles[w]["blocked_io_ns"]) if w in roles else "-1" for w in want]
out += [str(roles[w]["oncpu_ns"]) if w in roles else "-1" for w in want]
out.append("|".join(bad) or "none")
print(" ".join(out))' "${@:2}" 2>"$T/py.err" || echo "unparsable $(head -c 300 "$T/py.err")"
}

# attach: ampstat top in the background on SRV_PID; 0 once it traces
attach() {
	as_start -p "$SRV_PID" -i 1 -n 60 --json "$@" && return 0
	bpf_unavailable
}
# detach: SIGINT, the summary comes, exit 0
detach() {
	kill -INT "$AS_PID"
	wait_exit "$AS_PID" 20
	is "$RC" 0 "$1: ampstat exits 0 on SIGINT"
	AS_PID=''
}

want_codes=$(printf '200%.0s' $(seq 1 $NFILES))
lo=$((NFILES * LAT_MS * 1000000 / 2))
hi=$((NFILES * LAT_MS * 1000000 / 10))

# ---------------------------------------------------------------- nginx
V='[nginx aio threads] '
if ! mount_fs; then ok 1 "slowfs mounts"; done_testing; exit 1; fi
PORT=$(exp_free_port)
exp_start_nginx "$WORK" "$MNT" "$PORT" "aio threads;"
SRV_PID=$EXP_LAST_PID
if ! wait_up "http://127.0.0.1:$PORT/index.html"; then
	ok 1 "nginx starts" "$(cat "$WORK"/nginx*.log "$WORK/nginx.err" 2>/dev/null | tail -5)"
	done_testing; exit 1
fi
ok 0 "nginx starts on 127.0.0.1:$PORT"
attach
ok 0 "ampstat attaches to the master ($SRV_PID)"
is "$(fetch_cold)" "$want_codes" "$NFILES cold files served"
detach nginx
read -r rps thm thw tha blm blw bla cpm cpw cpa bad <<<"$(summary "$T/as.out" master worker aio-threads)"
is "$rps" none "requests_per_s is null: nginx has no amped counter"
is "$thm/$thw" 1/1 "roles: one master, one worker"
is "$tha" 32 "roles: 32 aio-threads (nginx's default pool)"
ok "$([ "${bla:--1}" -ge "$lo" ]; echo $?)" "aio-threads are in blocked-io (${bla} ns >= ${lo})"
ok "$([ "${blw:--1}" -ge 0 ] && [ "$blw" -le "$hi" ]; echo $?)" "the worker is not (${blw} ns <= ${hi})"
ok "$([ "${cpw:-0}" -gt 0 ]; echo $?)" "the worker was on CPU (${cpw} ns)"
is "$bad" none "per thread, buckets sum to wall time within 1%"

# --role with a selector goes before the profile: the worker process,
# leader and pool, is one role; the master keeps its profile role
as_start -p "$SRV_PID" -i 0.3 -n 1 --json --role 'front=cmd:^nginx: worker process$' ||
	bpf_unavailable
wait_exit "$AS_PID" 20
is "$RC" 0 "--role front=cmd:...: exits 0 after one report"
AS_PID=''
read -r _ thf thm thw tha _ <<<"$(summary "$T/as.out" front master worker aio-threads)"
is "$thf/$thm/$thw/$tha" 33/1/0/0 "--role front=cmd:...: front has the worker and its 32 threads"

# mode SUB SET ARGS...: ampstat SUB on nginx while cold set SET is
# fetched, stopped by SIGINT; its output in $T/SUB.out
mode() {
	local sub=$1 set=$2
	shift 2
	AS_CMD=$sub as_start -p "$SRV_PID" "$@" || bpf_unavailable
	is "$(fetch_cold "$set")" "$want_codes" "$sub: $NFILES fresh cold files served"
	kill -INT "$AS_PID"
	wait_exit "$AS_PID" 20
	is "$RC" 0 "$sub: ampstat exits 0 on SIGINT"
	AS_PID=''
	cp "$T/as.out" "$T/$sub.out"
}
mode syscalls 1 --json -T 0
# aio-threads' file reads, their pread64, the worker's epoll_wait calls
read -r aio_rd aio_pr w_ep <<<"$(tail -n 1 "$T/syscalls.out" | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
n = {(r["role"], c["name"]): c["count"] for r in s["roles"] for c in r["syscalls"]}
g = lambda r, c: n.get((r, c), 0)
print(g("aio-threads", "pread64") + g("aio-threads", "sendfile"), g("aio-threads", "pread64"),
      g("worker", "epoll_wait"))' 2>&1)"
ok "$([ "${aio_rd:-0}" -ge "$NFILES" ] 2>/dev/null; echo $?)" \
	"syscalls: aio-threads read the files (pread64+sendfile $aio_rd >= $NFILES; pread64 $aio_pr)"
ok "$([ "${w_ep:-0}" -ge 1 ] 2>/dev/null; echo $?)" "syscalls: the worker waits in epoll_wait ($w_ep calls)"

mode cache 2 --json
read -r aio_miss w_miss <<<"$(tail -n 1 "$T/cache.out" | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
m = {r["role"]: r["misses"] for r in s["roles"]}
print(m.get("aio-threads", 0), m.get("worker", 0))' 2>&1)"
ok "$([ "${aio_miss:-0}" -ge $((NFILES * 16)) ] 2>/dev/null; echo $?)" \
	"cache: the misses are aio-threads' ($aio_miss pages >= $((NFILES * 16)))"
is "$w_miss" 0 "cache: the worker has none"

mode offcpu 3 --folded
# microseconds per (role;comm;[category]) prefix
read -r aio_blk w_idle <<<"$(awk '{ split($1, f, ";"); us[f[1] ";" f[2] ";" f[3]] += $NF }
	END { printf "%d %d\n", us["aio-threads;nginx;[blocked-io]"], us["worker;nginx;[wait-idle]"] }' \
	"$T/offcpu.out")"
ok "$([ "${aio_blk:-0}" -ge $((lo / 1000)) ]; echo $?)" \
	"offcpu --folded: aio-threads;nginx;[blocked-io] lines (${aio_blk} us >= $((lo / 1000)))"
ok "$([ "${w_idle:-0}" -gt 0 ]; echo $?)" "offcpu --folded: worker;nginx;[wait-idle] lines (${w_idle} us)"
stop_server
umount_fs

# ---------------------------------------------------------------- lighttpd
V='[lighttpd] '
if ! mount_fs; then ok 1 "slowfs mounts"; done_testing; exit 1; fi
PORT=$(exp_free_port)
exp_start_lighttpd "$WORK" "$MNT" "$PORT"
SRV_PID=$EXP_LAST_PID
if ! wait_up "http://127.0.0.1:$PORT/index.html"; then
	ok 1 "lighttpd starts" "$(tail -5 "$WORK/lighttpd-error.log" "$WORK/lighttpd.err" 2>/dev/null)"
	done_testing; exit 1
fi
ok 0 "lighttpd starts on 127.0.0.1:$PORT"
attach
ok 0 "ampstat attaches"
is "$(fetch_cold)" "$want_codes" "$NFILES cold files served"
detach lighttpd
read -r rps the ble cpe bad <<<"$(summary "$T/as.out" event-loop)"
is "$rps" none "requests_per_s is null: lighttpd has no amped counter"
is "$the" 1 "roles: one event-loop"
ok "$([ "${cpe:-0}" -gt 0 ]; echo $?)" "the event loop was on CPU, user+kernel (${cpe} ns)"
ok "$([ "${ble:--1}" -ge "$lo" ]; echo $?)" "SPED-like: the event loop itself is in blocked-io (${ble} ns >= ${lo})"
is "$bad" none "per thread, buckets sum to wall time within 1%"
stop_server
umount_fs
V=''
done_testing
exit $((TAP_FAILED > 0))
