#!/bin/bash
# ampstat offcpu: usage errors exit 2; not root and no such process exit 1;
# a thread of a test program (build/tests/ampstat_io) that sleeps 10 x 20 ms
# shows, in --folded output (every line "frames VALUE", role first), as
# io;am-io;[wait-other];...;do_nanosleep;... with 190-1000 ms, kernel frames
# symbolized; the target's exit prints the stacks and exits 0; on amped the
# dispatcher's idle wait is [wait-idle] in epoll_wait, and the table view
# names the roles and reports the BPF cost.  The raw_tp twin
# (AMPSTAT_FORCE_RAW_TP=1) counts the same sleeps.
# Root only for the BPF part; without BPF it skips, unless
# AMPED_REQUIRE_BPF=1 (then fails).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
A=build/ampstat
AS_CMD=offcpu
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top
IO=build/tests/ampstat_io
for b in $A $IO; do [ -x $b ] || { echo "Bail out! $b missing (run make)"; exit 1; }; done
AS_PID='' IO_PID=''
cleanup() {
	for p in $AS_PID $IO_PID; do
		if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; fi
	done
	lib_cleanup
}
trap cleanup EXIT

# ---- the command-line contract (ampstat_lib.sh)
as_cli_contract "--min-us x" "--role x=(" "--json" "--svg"
out=$(timeout 10 $A offcpu -h)
unlike "$out" "flamegraph.pl" "offcpu -h does not send users to a tool they do not have"
like "$out" "--svg FILE" "offcpu -h offers --svg"
timeout 10 $A offcpu -p $$ --svg /nonexistent/dir/off.svg >/dev/null 2>"$T/err"
is "$?" 1 "unwritable --svg: exits 1 before tracing"
like "$(cat "$T/err")" "cannot write /nonexistent/dir/off.svg" "unwritable --svg: says so"


# ---- 10 x 20 ms of nanosleep in the thread am-io; then the target exits
coproc IOP { exec $IO; }
IO_PID=$!
read -r -t 10 ready <&"${IOP[0]}"
like "$ready" "^ready [0-9]+$" "ampstat_io starts"
# io_sleep_us: the folded microseconds of the io thread in nanosleep
io_sleep_us() { awk '/^io;am-io;\[wait-other\];/ && /do_nanosleep/ { s += $NF } END { print s + 0 }' "$T/as.out"; }
# first through the raw_tp twin (AMPSTAT_FORCE_RAW_TP=1), which counts a
# stretch when the thread next leaves the CPU: here, to wait for a command
AMPSTAT_FORCE_RAW_TP=1 as_start -p "$IO_PID" --folded --role 'io=^am-io$' || bpf_unavailable
echo "sleeps 10" >&"${IOP[1]}"
read -r -t 30 ans <&"${IOP[0]}"
is "$ans" "ok 10" "[raw_tp] ampstat_io slept 10 x 20 ms"
sleep 0.2
kill -INT "$AS_PID"
if wait_exit "$AS_PID" 10; then is "$RC" 0 "[raw_tp] SIGINT: exits 0"; else ok 1 "[raw_tp] SIGINT: exits within 10 s"; fi
AS_PID=''
like "$(cat "$T/as.err")" "raw_tp instead of tp_btf for .*sched_switch" "[raw_tp] it says it uses raw_tp"
io_us=$(io_sleep_us)
ok "$([ "$io_us" -ge 190000 ] && [ "$io_us" -le 1000000 ]; echo $?)" \
	"[raw_tp] io thread: 190-1000 ms off CPU in nanosleep ($io_us us)" "$(head -5 "$T/as.out")"
as_start -p "$IO_PID" --folded --role 'io=^am-io$' || bpf_unavailable
ok 0 "ampstat offcpu attaches"
echo "sleeps 10" >&"${IOP[1]}"
read -r -t 30 ans <&"${IOP[0]}"
is "$ans" "ok 10" "ampstat_io slept 10 x 20 ms"
exec {IOP[1]}>&-
if wait_exit "$AS_PID" 10; then is "$RC" 0 "target exits: exits 0"; else ok 1 "target exits: exits within 10 s"; fi
AS_PID=''
wait "$IO_PID" 2>/dev/null; IO_PID=''
nbad=$(grep -cvE '^[^ ;]+;[^ ;]+;\[[a-z-]+\](;[^;]+)+ [0-9]+$' "$T/as.out")
is "$nbad" 0 "every folded line is ROLE;COMM;[CATEGORY];frames VALUE"
io_us=$(io_sleep_us)
ok "$([ "$io_us" -ge 190000 ] && [ "$io_us" -le 1000000 ]; echo $?)" \
	"io thread: 190-1000 ms off CPU in nanosleep, kernel frames named ($io_us us)" "$(head -5 "$T/as.out")"
like "$(cat "$T/as.err")" "bpf: [0-9.]+ ms" "the BPF cost on stderr"

# ---- amped: the dispatcher idles in epoll_wait
make_docroot "$ROOT"
srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
as_start -p "$SRV_PID" --folded --svg "$T/off.svg" --html "$T/off.html" || bpf_unavailable
for i in 1 2 3 4 5; do get /1k.txt >/dev/null; sleep 0.05; done
sleep 0.3
kill -INT "$AS_PID"
if wait_exit "$AS_PID" 10; then is "$RC" 0 "SIGINT: exits 0"; else ok 1 "SIGINT: exits within 10 s"; fi
AS_PID=''
like "$(cat "$T/as.out")" "^dispatcher;amped-disp;\\[wait-idle\\];[^ ]*do_epoll_wait[^ ]* [0-9]+$" \
	"dispatcher: [wait-idle] in epoll_wait"
# the flame graphs of the same stacks: the root's total is the folded sum,
# the roles and the dispatcher's epoll_wait are frames; the unit test
# (60-ampstat-flame.t) checks the geometry
folded_sum=$(awk '{ s += $NF } END { print s + 0 }' "$T/as.out")
svg_total=$(sed -n 's/.*<svg [^>]*data-total="\([0-9]*\)".*/\1/p' "$T/off.svg")
is "$svg_total" "$folded_sum" "--svg: the root is the sum of the folded stacks ($folded_sum us)"
like "$(head -c 200 "$T/off.svg" | tr "\n" " ")" "^<\\?xml .*<svg xmlns" "--svg: an SVG document"
grep -q '<title>dispatcher$' "$T/off.svg"; is "$?" 0 "--svg: the dispatcher is a frame"
grep -q '<title>[^<]*do_epoll_wait$' "$T/off.svg"; is "$?" 0 "--svg: epoll_wait is a frame"
like "$(head -c 100 "$T/off.html")" "^<!DOCTYPE html>" "--html: an HTML page"
is "$(grep -c '<g class="f"' "$T/off.html")" "$(grep -c '<g class="f"' "$T/off.svg")" "--html: the same frames"
like "$(cat "$T/as.err")" "flame graph .* written to $T/off.svg" "--svg: says where it wrote"
as_start -p "$SRV_PID" -d 1 || bpf_unavailable
for i in 1 2 3; do get /1k.txt >/dev/null; sleep 0.05; done
wait_exit "$AS_PID" 10; is "$RC" 0 "-d 1: exits 0"
AS_PID=''
like "$(cat "$T/as.out")" "dispatcher: off CPU [0-9.]+ s" "table: the dispatcher's off-CPU time"
like "$(cat "$T/as.out")" $'\n''bpf: [0-9.]+ ms' "table: the BPF cost"
srv_stop TERM
done_testing
exit $((TAP_FAILED > 0))
