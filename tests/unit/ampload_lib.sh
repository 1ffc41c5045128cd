# shellcheck shell=bash
# ampload_lib.sh — helpers for tests/50-ampload-*.t (source from the repo root).
#
#   TAP:     ok STATUS DESC [DIAG], is GOT WANT DESC, done_testing, diag
#   server:  qs_start [qserver args] (sets QS_PID, QS_URL), qs_stop
#   results: jget FILE EXPR — evaluate a Python expression over the JSON
#            document `d` (e.g. jget out.json 'd["ci"]["mean_lo_ms"]')
#            fle A B — 0 if A <= B (floating point)
# Everything lives in $T, removed at exit; the qserver we started is
# stopped by pid.  Every ampload call should be wrapped in `timeout`.
set -u
cd "$(dirname "$0")/.." || exit 1
AMPLOAD=${AMPLOAD:-build/ampload}
QSERVER=build/tests/qserver
T=$(mktemp -d /tmp/ampload-test.XXXXXX)
QS_PID=''
QS_URL=''
TAP_N=0
TAP_FAILED=0
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi

for b in "$AMPLOAD" "$QSERVER"; do
	if [ ! -x "$b" ]; then
		echo "Bail out! $b missing (make build/ampload build/tests/qserver)"
		exit 1
	fi
done

al_cleanup() {
	if [ -n "$QS_PID" ] && kill -0 "$QS_PID" 2>/dev/null; then
		kill -KILL "$QS_PID" 2>/dev/null
		wait "$QS_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap al_cleanup EXIT

ok() {
	TAP_N=$((TAP_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $TAP_N - $2"
	else
		TAP_FAILED=$((TAP_FAILED + 1))
		echo "not ok $TAP_N - $2"
		[ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /'
	fi
	return 0
}
is() { if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3" "got: '$1'  want: '$2'"; fi; }
diag() { printf '%s\n' "$*" | sed 's/^/# /'; }
done_testing() { echo "1..$TAP_N"; [ "$TAP_FAILED" -eq 0 ]; }
fle() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }

# qs_start [args]: start the queueing test server on a free port.
qs_start() {
	local i line=''
	"$QSERVER" --port 0 "$@" >"$T/qs.out" 2>"$T/qs.err" </dev/null &
	QS_PID=$!
	for i in $(seq 1 250); do
		line=$(head -n 1 "$T/qs.out" 2>/dev/null)
		case "$line" in *listening\ on\ http://*) break ;; esac
		kill -0 "$QS_PID" 2>/dev/null || break
		sleep 0.02
	done
	QS_URL=$(printf '%s' "$line" | sed -n 's|.*listening on \(http://[^ ]*/\).*|\1|p')
	if [ -z "$QS_URL" ]; then
		diag "qserver did not start: $(cat "$T/qs.err")"
		return 1
	fi
}

# qs_stop: SIGTERM, wait up to 10 s (the server flushes its log on exit).
qs_stop() {
	local i
	[ -n "$QS_PID" ] || return 0
	kill -TERM "$QS_PID" 2>/dev/null
	for i in $(seq 1 500); do
		kill -0 "$QS_PID" 2>/dev/null || break
		sleep 0.02
	done
	kill -KILL "$QS_PID" 2>/dev/null
	wait "$QS_PID" 2>/dev/null
	QS_PID=''
	diag "$(cat "$T/qs.err")"
}

jget() {
	"$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}

# manifest N FILE: paths q0..q(N-1), one per qserver queue.
manifest() {
	local i
	: >"$2"
	for ((i = 0; i < $1; i++)); do echo "q$i 16" >>"$2"; done
}
