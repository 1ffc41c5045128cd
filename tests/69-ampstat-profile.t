#!/bin/bash
# ampstat profile: the command-line contract (ampstat_lib.sh), bad --rules
# files (exit 2, file:line named), --list-rules (yours first, then the
# built-in table).  Then amped, nginx and lighttpd, each under a cached
# 1 KiB keep-alive load from wrk (16 connections), profiled at 1999 Hz for
# 2 s:
#   - --json parses; per role and over all, the category shares sum to 1;
#   - the kernel network stack is the largest category, and it and event
#     notification together take >= 30% of the samples (seen on this
#     2-core VM, shared with other jobs: 58-65% in 9 runs with wrk pinned
#     to CPU 1 as here, 37-55% with wrk unpinned; network alone 39-57%,
#     event notification 1-13% under epoll, and the next largest is the
#     server's own code at 13-24%);
#   - the cost line is there ("bpf" with runs of the sampling program);
#   - the busiest role is the one roles.h names: amped's dispatcher,
#     nginx's worker, lighttpd's event-loop;
# and on amped a second profile at the same time writes --folded lines
# ROLE;COMM;[CATEGORY];frames SAMPLES whose sum is the --svg's total, with
# the dispatcher in epoll_wait among them; on nginx a second one with
# --rules 'exe:nginx other-user' moves all of nginx's own code out of
# "http" (none left there, other-user has them) that the built-in table
# puts in it.
# Root only for the BPF part; without BPF it skips, unless
# AMPED_REQUIRE_BPF=1 (then fails).  nginx and lighttpd: installed by
# scripts/deps.sh when missing, else their part is skipped.
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
A=build/ampstat
AS_CMD=profile
. tests/ampstat_lib.sh
[ -x $A ] || { echo "Bail out! $A missing (run make)"; exit 1; }

# ---- the command-line contract and the rules
printf 'tcp_* nosuchcategory\n' >"$T/bad.rules"
as_cli_contract "--freq 0" "--freq 10001" "--freq x" "--top x" "--rules $T/none.rules" \
	"--rules $T/bad.rules" "--json --folded"
timeout 10 $A profile -p 1 --rules "$T/bad.rules" >/dev/null 2>"$T/err"
like "$(cat "$T/err")" "bad.rules:1: want 'PATTERN CATEGORY'" "bad --rules: names the file and line"
printf '# mine\nmy_parse_* http\n\nexe:myserver   http  # trailing comment\n' >"$T/my.rules"
out=$(timeout 10 $A profile --list-rules --rules "$T/my.rules")
is "$?" 0 "--list-rules exits 0"
is "$(printf '%s\n' "$out" | grep -v '^#' | head -2 | tr '\n' '|')" "my_parse_* http|exe:myserver http|" \
	"--list-rules: the --rules lines first, in order"
like "$out" $'\n''tcp_\* net'$'\n' "--list-rules: then the built-in table (tcp_* net)"
like "$out" $'\n''ep_\* event'$'\n' "--list-rules: ep_* is event notification"
timeout 10 $A profile --list-rules -p 1 >/dev/null 2>&1
is "$?" 2 "--list-rules with -p: usage error"

if [ "$(id -u)" -ne 0 ]; then
	skip "profiles of servers" "needs root"; done_testing; exit 0
fi
command -v wrk >/dev/null || { echo "Bail out! wrk missing (scripts/deps.sh installs it)"; exit 1; }

# the servers' start-up and CPU pinning (server on CPU 0, wrk on CPU 1)
# come from the experiments' library; its EXIT trap is replaced by ours,
# which calls its cleanup
EXP_NAME=69-ampstat-profile
. scripts/lib-exp.sh
AS2_PID='' WRK_PID=''
cleanup() {
	stop_ampstat
	for p in $AS2_PID $WRK_PID; do
		if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; fi
	done
	exp_cleanup
	lib_cleanup
}
trap cleanup EXIT
make_docroot "$ROOT"

# check NAME JSONFILE: the JSON's checks; prints "samples net+event
# largest sums_ok http_samples other_user_samples progs busiest_role" or
# "unparsable ..."
check() {
	"$PY" - "$2" <<'PYEOF' 2>&1
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception as e:
    print("unparsable", str(e)[:200]); sys.exit(0)
a = j["all"]
cats = a["categories"]
n = a["samples"]
ok = all(abs(sum(c["share"] for c in r["categories"].values()) - 1) < 0.01
         for r in j["roles"] + [a] if r["samples"])
largest = max(cats, key=lambda k: cats[k]["samples"])
ne = (cats["net"]["samples"] + cats["event"]["samples"]) / n if n else 0
progs = ",".join(p["name"] for p in j["bpf"]["progs"] if p["runs"])
busiest = max(j["roles"], key=lambda r: r["samples"])["role"] if j["roles"] else "none"
print(n, "%.3f" % ne, largest, "sums-ok" if ok else "sums-bad", cats["http"]["samples"],
      cats["other-user"]["samples"], progs or "none", busiest)
PYEOF
}

# profile NAME URL ROLE [ARGS of a second profile...]: ampstat profile -F 1999
# -d 2 --json on SRV_PID under wrk's load (and the second one, when ARGS
# are given, at the same time; its output in $T/as2.out and .err); the
# checks of the JSON.  Leaves the results in R_* for more checks.
profile() {
	local name=$1 url=$2 role=$3
	shift 3
	if [ $# -gt 0 ]; then
		$A profile -p "$SRV_PID" -F 1999 -d 2 "$@" >"$T/as2.out" 2>"$T/as2.err" &
		AS2_PID=$!
	fi
	as_start -p "$SRV_PID" -F 1999 -d 2 --json || bpf_unavailable
	# shellcheck disable=SC2046
	timeout 20 $(exp_pin 1) wrk -t1 -c16 -d3s "$url" >"$T/wrk.out" 2>&1 &
	WRK_PID=$!
	if wait_exit "$AS_PID" 15; then is "$RC" 0 "$name: exits 0 after -d 2"; else ok 1 "$name: exits within 15 s"; fi
	AS_PID=''
	if [ -n "$AS2_PID" ]; then
		wait_exit "$AS2_PID" 15; RC2=$RC; AS2_PID=''
	fi
	wait "$WRK_PID"; WRK_PID=''
	like "$(cat "$T/wrk.out")" "Requests/sec" "$name: wrk ran" "$(tail -3 "$T/wrk.out")"
	read -r R_N R_NE R_LARGEST R_SUMS R_HTTP R_OUSER R_PROGS R_ROLE <<<"$(check "$name" "$T/as.out")"
	ok "$([ "$R_N" != unparsable ]; echo $?)" "$name: --json parses" "$R_NE $R_LARGEST"
	ok "$([ "${R_N:-0}" -ge 50 ] 2>/dev/null; echo $?)" "$name: >= 50 samples of the server ($R_N)" \
		"$(tail -3 "$T/as.err"; tail -3 "$T/wrk.out")"
	is "$R_SUMS" sums-ok "$name: the category shares of each role sum to 1"
	is "$R_LARGEST" net "$name: the kernel network stack is the largest category"
	ok "$(awk -v v="$R_NE" 'BEGIN { exit !(v >= 0.30) }'; echo $?)" \
		"$name: network + event notification >= 30% of the samples ($R_NE)" "$(head -c 1500 "$T/as.out")"
	like "$R_PROGS" "as_profile" "$name: the cost names the sampling program's runs"
	is "$R_ROLE" "$role" "$name: the busy role is its $role (roles.h)"
}

# ---------------------------------------------------------------- amped
srv_start "$AMPED_BIN" amped || { ok 1 "amped starts"; done_testing; exit 1; }
profile amped "$SRV_URL/1k.txt" dispatcher --folded --svg "$T/cpu.svg"
is "$RC2" 0 "amped --folded: exits 0"
nbad=$(grep -cvE '^[^ ;]+;[^ ;]+;\[[a-z-]+\](;[^;]+)+ [0-9]+$' "$T/as2.out")
is "$nbad" 0 "--folded: every line is ROLE;COMM;[CATEGORY];frames SAMPLES" "$(grep -vE '^[^ ;]+;' "$T/as2.out" | head -3)"
n=$(grep -c '^dispatcher;amped-disp;\[event\];.*;do_epoll_wait' "$T/as2.out")
ok "$([ "$n" -ge 1 ]; echo $?)" "--folded: the dispatcher's samples in epoll_wait are event notification ($n lines)"
folded_sum=$(awk '{ s += $NF } END { print s + 0 }' "$T/as2.out")
svg_total=$(sed -n 's/.*<svg [^>]*data-total="\([0-9]*\)".*/\1/p' "$T/cpu.svg")
is "$svg_total" "$folded_sum" "--svg: the root is the sum of the folded samples ($folded_sum)"
like "$(cat "$T/as2.err")" "bpf: [0-9.]+ ms" "--folded: the cost line on stderr"
# the table: the roles' columns and the categories' rows, the cost line
as_start -p "$SRV_PID" -d 1 -F 999 -T 3 || bpf_unavailable
timeout 10 wrk -t1 -c4 -d1s "$SRV_URL/1k.txt" >/dev/null 2>&1
wait_exit "$AS_PID" 10; is "$RC" 0 "table: exits 0"
AS_PID=''
like "$(cat "$T/as.out")" "kernel network stack +[0-9.]+% +[0-9.]+" "table: a row per category"
like "$(cat "$T/as.out")" "dispatcher: the frames that decided" "table: the deciding frames per role"
like "$(cat "$T/as.out")" $'\n''bpf: [0-9.]+ ms' "table: the cost line"
srv_stop TERM

# ---------------------------------------------------------------- peers
if ! exp_install_peers 2>"$T/install.err"; then
	skip "nginx and lighttpd" "cannot install them: $(tail -1 "$T/install.err")"
	done_testing; exit 0
fi
mkdir -p "$T/work"
# peer NAME: starts nginx or lighttpd on a free port (PORT, SRV_PID) and
# waits until it answers 200, at most 10 s; 1 if it does not.  The port
# is free when chosen, but another program (another test on this machine)
# may take it before the server binds: a server that cannot bind then
# retries for a while, and an answer from the other program would have
# the load go there and the profile see none.  So the listener must be the
# server's own (ss names the processes holding it), else it starts again
# on another port, at most 3 times.
peer() {
	local try i
	for try in 1 2 3; do
		PORT=$(exp_free_port)
		"exp_start_$1" "$T/work" "$ROOT" "$PORT"
		SRV_PID=$EXP_LAST_PID
		for i in $(seq 1 100); do
			if [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT/1k.txt")" = 200 ]; then
				ss -Hltnp "sport = :$PORT" | grep -q "pid=$SRV_PID," && return 0
				break
			fi
			kill -0 "$SRV_PID" 2>/dev/null || break
			sleep 0.1
		done
		diag "$1 on port $PORT: not its own listener or no answer (try $try)"
		exp_stop_pid "$SRV_PID" 5000
	done
	return 1
}

if peer nginx; then
	printf 'exe:nginx other-user\n' >"$T/nginx.rules"
	profile nginx "http://127.0.0.1:$PORT/1k.txt" worker --json --rules "$T/nginx.rules"
	is "$RC2" 0 "nginx --rules: exits 0"
	ok "$([ "${R_HTTP:-0}" -gt 0 ]; echo $?)" "nginx: built-in rules put nginx's own code in http ($R_HTTP samples)"
	read -r _ _ _ _ h2 ou2 _ _ <<<"$(check nginx "$T/as2.out")"
	is "$h2" 0 "nginx --rules 'exe:nginx other-user': no http samples left"
	ok "$([ "${ou2:-0}" -gt 0 ]; echo $?)" "nginx --rules: other-user has them ($ou2 samples)"
else
	ok 1 "nginx starts" "$(cat "$T"/work/nginx*.log "$T/work/nginx.err" 2>/dev/null | tail -5)"
fi
exp_stop_pid "$SRV_PID" 5000

if peer lighttpd; then
	profile lighttpd "http://127.0.0.1:$PORT/1k.txt" event-loop
else
	ok 1 "lighttpd starts" "$(cat "$T"/work/lighttpd*.log "$T/work/lighttpd.err" 2>/dev/null | tail -5)"
fi
exp_stop_pid "$SRV_PID" 5000
SRV_PID=''
done_testing
exit $((TAP_FAILED > 0))
