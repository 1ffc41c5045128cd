#!/bin/bash
# ampstat's pinned maps and its start-up without BTF.
# Every subcommand (blocked, syscalls, cache, offcpu, latency) pins its maps
# under /sys/fs/bpf/amped/PID/SUBCOMMAND/ while it runs: bpftool dumps one
# of them, a second ampstat of the same subcommand on the same server runs
# without pins and says why, `top` pins its own beside them, and all of
# them are gone after a clean exit.  A killed ampstat's folder is removed
# by the next one to start.  Without BTF (/sys/kernel/btf covered by an
# empty tmpfs in a private mount namespace) every subcommand exits 1 and
# says the kernel has no BTF.
# Root only; without BPF it skips, unless AMPED_REQUIRE_BPF=1 (then fails).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
[ -x build/ampstat ] || { echo "Bail out! build/ampstat missing (run make)"; exit 1; }
A=build/ampstat
AS_CMD=blocked
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top
AS_PID='' KILLED=''
cleanup() {
	for p in $AS_PID $KILLED; do
		if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; fi
	done
	lib_cleanup
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	if [ "${AMPED_REQUIRE_BPF:-0}" = 1 ]; then ok 1 "AMPED_REQUIRE_BPF=1 but not root"; else skip "pins" "not root"; fi
	done_testing; exit $((TAP_FAILED > 0))
fi
if ! command -v bpftool >/dev/null; then
	ok 1 "bpftool is installed (scripts/deps.sh)"
	done_testing; exit 1
fi
make_docroot "$ROOT"
srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
P=/sys/fs/bpf/amped/$SRV_PID

# a map of each subcommand that bpftool can dump (not a ring buffer, a
# stack map or task storage)
declare -A DUMP=([blocked]=others_out [syscalls]=sc [cache]=cache_roles [offcpu]=offcpu [latency]=lat)
for sub in blocked syscalls cache offcpu latency; do
	V="[$sub] "
	AS_CMD=$sub
	as_start -p "$SRV_PID" -d 60 || bpf_unavailable
	like "$(cat "$T/as.err")" "maps pinned in $P/$sub" "says where its maps are pinned"
	for i in 1 2 3; do get /a.txt >/dev/null; done
	timeout 10 bpftool map dump pinned "$P/$sub/${DUMP[$sub]}" >"$T/dump.out" 2>&1
	is "$?" 0 "bpftool map dump pinned $P/$sub/${DUMP[$sub]}" "$(head -5 "$T/dump.out")"
	timeout 20 $A "$sub" -p "$SRV_PID" -d 0.3 >/dev/null 2>"$T/two.err"
	is "$?" 0 "a second ampstat $sub on the same server runs (exit 0)"
	like "$(cat "$T/two.err")" "maps not pinned: .*another ampstat traces this process" \
		"the second one pins nothing and says why"
	ok "$([ -d "$P/$sub" ]; echo $?)" "the first one's pins outlive the second one"
	kill -INT "$AS_PID"
	if wait_exit "$AS_PID" 10; then is "$RC" 0 "SIGINT: exits 0"; else ok 1 "SIGINT: exits within 10 s"; fi
	AS_PID=''
	ok "$([ ! -e "$P" ]; echo $?)" "no pins left after it exits"
done
V=''

# top beside a subcommand: each pins its own, both are removed
AS_CMD=blocked
as_start -p "$SRV_PID" -d 60 || bpf_unavailable
timeout 20 $A top -p "$SRV_PID" -i 0.3 -n 1 >/dev/null 2>"$T/top.err"
is "$?" 0 "top beside blocked: exits 0"
like "$(cat "$T/top.err")" "maps pinned in $P" "top beside blocked pins its own maps"
ok "$([ -d "$P/blocked" ]; echo $?)" "blocked's pins are still there after top's exit"
kill -INT "$AS_PID"
wait_exit "$AS_PID" 10
AS_PID=''
ok "$([ ! -e "$P" ]; echo $?)" "top and blocked: no pins left"

# a killed ampstat leaves its folder; the next one to start removes it
AS_CMD=syscalls
as_start -p "$SRV_PID" -d 60 || bpf_unavailable
KILLED=$AS_PID
kill -KILL "$KILLED"; wait "$KILLED" 2>/dev/null; KILLED=''
ok "$([ -d "$P/syscalls" ]; echo $?)" "SIGKILL leaves $P/syscalls behind"
# the kernel frees the dead one's programs a moment later (the tracepoint
# links are released after an RCU grace period): wait until none uses its map
id=$(bpftool map show pinned "$P/syscalls/sc" | sed -n 's/^\([0-9]*\):.*/\1/p')
for i in $(seq 1 500); do
	bpftool prog show | grep -Eq "map_ids.*\b${id:-x}\b" || break
	sleep 0.02
done
AS_CMD=cache
as_start -p "$SRV_PID" -d 60 || bpf_unavailable
ok "$([ ! -e "$P/syscalls" ]; echo $?)" "the next ampstat (cache) removed the stale folder"
ok "$([ -d "$P/cache" ]; echo $?)" "and pinned its own"
kill -INT "$AS_PID"
wait_exit "$AS_PID" 10
AS_PID=''
ok "$([ ! -e "$P" ]; echo $?)" "no pins left"

# ---- no BTF: /sys/kernel/btf covered by an empty tmpfs
if ! command -v unshare >/dev/null || ! unshare -m sh -c 'mount -t tmpfs none /sys/kernel/btf' 2>/dev/null; then
	skip "no BTF" "cannot cover /sys/kernel/btf in a private mount namespace"
else
	for sub in top blocked syscalls cache offcpu latency serve; do
		args="-p $SRV_PID -d 1"
		[ $sub = top ] && args="-p $SRV_PID -n 1 -i 0.2"
		[ $sub = serve ] && args="-p $SRV_PID --listen 127.0.0.1:0"
		timeout 20 unshare -m sh -c "mount -t tmpfs none /sys/kernel/btf && exec $A $sub $args" \
			>/dev/null 2>"$T/nobtf.err"
		is "$?" 1 "no BTF: ampstat $sub exits 1"
		like "$(cat "$T/nobtf.err")" "this kernel has no BTF \(/sys/kernel/btf/vmlinux: No such file" \
			"no BTF: ampstat $sub says so"
	done
fi
srv_stop TERM
done_testing
exit $((TAP_FAILED > 0))
