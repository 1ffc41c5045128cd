# ampstat_lib.sh — what the ampstat tests (tests/6*.t) share.  Source it
# after lib.sh, with A (the ampstat binary) and AS_CMD (the subcommand) set:
#   as_start ARGS...   ampstat AS_CMD ARGS in the background (pid in AS_PID,
#                      output in $T/as.out and $T/as.err); 0 once it says
#                      it traces, 1 if it exits or stays silent for 10 s
#   bpf_unavailable    the attach failed: fail under AMPED_REQUIRE_BPF=1,
#                      else skip; runs stop_ampstat first if the test has
#                      one; ends the test
#   wait_exit PID S    0 when PID exited within S seconds; its status in RC
#   stop_ampstat       SIGKILL the ampstat in AS_PID, if any, and reap it
#   as_cli_contract [-x EXTRA] BADARGS...
#                      the command-line contract every subcommand keeps (its
#                      session runner, user/ampstat/sess.c, parses the common
#                      options): usage errors exit 2 (no -p, -p without a
#                      value or with junk, -d 0 or junk, an unknown option,
#                      an extra argument, and each BADARGS string, run as
#                      `ampstat AS_CMD -p 1 BADARGS`); -h exits 0 with
#                      examples; `ampstat -h` lists it; not root and no such
#                      process exit 1 and say so (EXTRA: arguments the
#                      subcommand needs to start, e.g. serve's --listen).
#                      Ends the test when not root.
#   slow disk (slowfs, one arm), with SRC, MNT and LAT_MS set:
#   cold_files N SEED  N files $SRC/coldI.bin of 64 KiB, seeded bytes
#   mount_fs           mounts SRC at MNT, LAT_MS per read (pid in FS_PID);
#                      1 if no mount within 5 s
#   umount_fs          unmounts it and stops slowfs
#   is_mounted DIR     0 if DIR is a mount point

as_start() {
	# empty it first: the redirection below happens in the child, and the
	# wait loop must not find the previous ampstat's line
	: >"$T/as.err"
	$A "$AS_CMD" "$@" >"$T/as.out" 2>"$T/as.err" &
	AS_PID=$!
	local i
	for i in $(seq 1 500); do
		grep -q 'tracing pid' "$T/as.err" && return 0
		kill -0 "$AS_PID" 2>/dev/null || break
		sleep 0.02
	done
	return 1
}

bpf_unavailable() {
	if declare -F stop_ampstat >/dev/null; then stop_ampstat; fi
	if [ "${AMPED_REQUIRE_BPF:-0}" = 1 ]; then
		ok 1 "ampstat $AS_CMD attaches (AMPED_REQUIRE_BPF=1)" "$(cat "$T/as.err")"
	else
		skip "ampstat $AS_CMD attaches" "BPF unavailable: $(head -c 200 "$T/as.err")"
	fi
	done_testing
	exit $((TAP_FAILED > 0))
}

wait_exit() {
	local i
	for i in $(seq 1 $(($2 * 50))); do
		if ! kill -0 "$1" 2>/dev/null; then wait "$1"; RC=$?; return 0; fi
		sleep 0.02
	done
	return 1
}

# as_stop: SIGINT to the ampstat of as_start; its exit status in RC_AS
# ("timeout" when it did not exit within 10 s)
as_stop() {
	kill -INT "$AS_PID"
	if wait_exit "$AS_PID" 10; then RC_AS=$RC; else RC_AS=timeout; fi
	AS_PID=''
}

stop_ampstat() {
	if [ -n "$AS_PID" ] && kill -0 "$AS_PID" 2>/dev/null; then
		kill -KILL "$AS_PID" 2>/dev/null; wait "$AS_PID" 2>/dev/null
	fi
	AS_PID=''
}

as_cli_contract() {
	local args extra='' rc out gone
	if [ "${1:-}" = -x ]; then extra=$2; shift 2; fi
	for args in "" "-p" "-p abc" "-p 1 -d 0" "-p 1 -d x" "-p 1 --bogus" "-p 1 extra"; do
		# shellcheck disable=SC2086
		timeout 10 $A "$AS_CMD" $args >/dev/null 2>"$T/err"
		is "$?" 2 "usage error exits 2: ampstat $AS_CMD $args"
	done
	for args in "$@"; do
		# shellcheck disable=SC2086
		timeout 10 $A "$AS_CMD" -p 1 $args >/dev/null 2>"$T/err"
		is "$?" 2 "usage error exits 2: ampstat $AS_CMD -p 1 $args"
	done
	out=$(timeout 10 $A "$AS_CMD" -h)
	is "$?" 0 "$AS_CMD -h exits 0"
	like "$out" "examples:" "$AS_CMD -h shows usage with examples"
	like "$(timeout 10 $A -h)" "$AS_CMD -p PID" "ampstat -h lists $AS_CMD"
	if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
		# shellcheck disable=SC2086
		timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups $A "$AS_CMD" -p $$ $extra \
			>/dev/null 2>"$T/err"
		rc=$?
		if [ "$rc" = 126 ] || [ "$rc" = 127 ]; then
			skip "not root: exits 1" "nobody cannot run $A here"
		else
			is "$rc" 1 "not root: exits 1"
			like "$(cat "$T/err")" "must run as root" "not root: says so"
		fi
	else
		# shellcheck disable=SC2086
		timeout 10 $A "$AS_CMD" -p $$ $extra >/dev/null 2>"$T/err"
		is "$?" 1 "not root: exits 1"
	fi
	if [ "$(id -u)" -ne 0 ]; then
		if [ "${AMPED_REQUIRE_BPF:-0}" = 1 ]; then ok 1 "BPF part: AMPED_REQUIRE_BPF=1 but not root"; fi
		done_testing
		exit $((TAP_FAILED > 0))
	fi
	sh -c 'exit 0' & gone=$!
	wait $gone
	while kill -0 "$gone" 2>/dev/null; do gone=$((gone + 1)); done
	# shellcheck disable=SC2086
	timeout 10 $A "$AS_CMD" -p "$gone" $extra >/dev/null 2>"$T/err"
	is "$?" 1 "no such process: exits 1"
	like "$(cat "$T/err")" "no such process" "no such process: says so"
}

cold_files() {
	"$PY" - "$SRC" "$1" "$2" <<'PYEOF'
import random, sys
r = random.Random(int(sys.argv[3]))
for i in range(int(sys.argv[2])):
    open("%s/cold%d.bin" % (sys.argv[1], i), "wb").write(r.randbytes(65536))
PYEOF
}

is_mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }

mount_fs() {
	local i
	build/slowfs --latency-us $((LAT_MS * 1000)) --depth 1 "$SRC" "$MNT" 2>"$T/slowfs.err" &
	FS_PID=$!
	for i in $(seq 1 100); do is_mounted "$MNT" && return 0; sleep 0.05; done
	return 1
}

umount_fs() {
	if is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null
	fi
	if [ -n "$FS_PID" ]; then kill "$FS_PID" 2>/dev/null; wait "$FS_PID" 2>/dev/null; FS_PID=''; fi
}
