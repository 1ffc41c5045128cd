# lib.sh — shared helpers for the server integration tests (tests/2*.t).
#
# Source it from a test run in the repo root.  It gives:
#   TAP:      ok STATUS DESC [DIAG], is GOT WANT DESC, like GOT ERE DESC,
#             skip DESC REASON, done_testing (prints the plan at the end)
#   fixture:  make_docroot DIR   (a fixed document root, fixed mtimes)
#   server:   srv_start [args] / srv_stop, variants FUNC [args] (runs FUNC
#             against every build x model with a fresh server each time)
#   clients:  get/head_req/req (curl, fills $HDR/$BODY, echoes the status code),
#             hdr NAME, raw [opts] STEP... (tests/helpers/rawhttp.py)
# Everything lives under one temp dir removed by an EXIT trap; the servers
# we started are killed by pid.  Every client call has a time limit.

set -u
cd "$(dirname "$0")/.." || exit 1

if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
RAWHTTP=tests/helpers/rawhttp.py
T=$(mktemp -d /tmp/amped-test.XXXXXX)
ROOT=$T/root
HDR=$T/hdr
BODY=$T/body
SRV_PID=''
SRV_URL=''
SRV_HOST=''
SRV_PORT=''
SRV_BIN=''
SRV_MODEL=''
SRV_OUT=''
SRV_ERR=''
V=''	# label of the current variant, prefixed to every test name
TAP_N=0
TAP_FAILED=0

lib_cleanup() {
	if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
		kill -KILL "$SRV_PID" 2>/dev/null
		wait "$SRV_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap lib_cleanup EXIT

# ---------------------------------------------------------------- TAP
ok() { # ok STATUS DESC [DIAG]
	TAP_N=$((TAP_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $TAP_N - $V$2"
	else
		TAP_FAILED=$((TAP_FAILED + 1))
		echo "not ok $TAP_N - $V$2"
		# on stderr, as Test::More does: prove shows it even when it
		# hides the TAP (prove -j2), and run-tests.sh's summary quotes it
		{
			echo "#   Failed test $TAP_N '$V$2' (${0##*/})"
			[ -n "${3:-}" ] && printf '%s\n' "$3" | head -40 | sed 's/^/#   /'
		} >&2
	fi
	return 0
}
is() { # is GOT WANT DESC
	if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3" "got: '$1'  want: '$2'"; fi
}
like() { # like GOT ERE DESC
	if printf '%s' "$1" | grep -Eq -- "$2"; then ok 0 "$3"; else ok 1 "$3" "got: '$1'  want match: /$2/"; fi
}
unlike() { # unlike GOT ERE DESC
	if printf '%s' "$1" | grep -Eq -- "$2"; then ok 1 "$3" "got: '$1'  must not match: /$2/"; else ok 0 "$3"; fi
}
skip() { # skip DESC REASON
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $V$1 # skip $2"
}
done_testing() { echo "1..$TAP_N"; }
diag() { printf '%s\n' "$*" | sed 's/^/# /'; }

# ---------------------------------------------------------------- fixture
FIX_MTIME='2020-01-02 03:04:05 UTC'
FIX_LASTMOD='Thu, 02 Jan 2020 03:04:05 GMT'

# make_docroot DIR: the document root every server test uses.  Content is
# fixed (seeded), mtimes are FIX_MTIME, so Last-Modified is known exactly.
make_docroot() {
	local d=$1
	mkdir -p "$d/sub" "$d/nodir" "$d/deep/a/b"
	printf '<html><body>index</body></html>\n' >"$d/index.html"
	printf 'hello amped\n' >"$d/a.txt"
	printf '<html>sub index</html>\n' >"$d/sub/index.html"
	printf 'sub file\n' >"$d/sub/f.txt"
	printf 'no index here\n' >"$d/nodir/x.txt"
	printf 'deep\n' >"$d/deep/a/b/c.txt"
	printf 'body{color:red}\n' >"$d/style.css"
	printf '{"k":1}\n' >"$d/data.json"
	printf 'var x=1;\n' >"$d/app.js"
	printf 'GIF89a-not-really\n' >"$d/img.gif"
	printf '\x89PNG-not-really\n' >"$d/img.png"
	printf 'JPEG-not-really\n' >"$d/img.jpg"
	printf 'unknown extension\n' >"$d/data.zzqx"
	printf 'no extension\n' >"$d/README"
	printf 'with space\n' >"$d/with space.txt"
	printf 'percent\n' >"$d/pct%file.txt"
	printf 'utf8 name\n' >"$d/$(printf '\xc3\xa9').txt"
	printf 'query?\n' >"$d/q.txt"
	"$PY" - "$d" <<'EOF'
import random, sys
d = sys.argv[1]
r = random.Random(20240601)
line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_=+\n"
with open(d + "/1k.txt", "wb") as f:
    f.write((line * 16)[:1024])
with open(d + "/rand.bin", "wb") as f:
    f.write(r.randbytes(100000))
# Many small distinct files: requests that must miss every cache.
import os
os.makedirs(d + "/many", exist_ok=True)
for i in range(200):
    with open(d + "/many/f%03d.txt" % i, "wb") as f:
        f.write(b"file %03d " % i + r.randbytes(16).hex().encode() + b"\n")
EOF
	ln -s a.txt "$d/link-in.txt"
	ln -s /etc/passwd "$d/link-out"
	ln -s ../../etc/passwd "$d/link-out-rel"
	ln -s sub "$d/linkdir"
	ln -s / "$d/linkroot"
	printf 'secret\n' >"$d/unreadable.txt"
	chmod 000 "$d/unreadable.txt"
	find "$d" -exec touch -h -d "$FIX_MTIME" {} +
}

# ---------------------------------------------------------------- server
# Builds to test: $AMPED_BIN alone, or the normal and the sanitizer build.
if [ -n "${AMPED_BIN:-}" ]; then
	BINS=("$AMPED_BIN")
else
	BINS=(build/amped build/asan/amped)
fi
# Models to test: $AMPED_MODELS (space separated), else every model.
# $AMPED_SCHED=srpt runs the event-driven ones with --sched srpt.
# MODEL+POLLER (e.g. sped+poll) runs MODEL with --poller POLLER: the default
# list runs the HTTP tests once with each non-default poller; $AMPED_POLLER
# runs every model that polls with that poller.
read -r -a MODELS <<<"${AMPED_MODELS:-amped amted sped symped mp mt uring ult seda hybrid sped+poll amped+select}"
POLLING_MODELS=" amped amted sped symped uring ult seda "
for b in "${BINS[@]}"; do
	if [ ! -x "$b" ]; then
		echo "Bail out! $b missing (run make)"
		exit 1
	fi
done

is_asan() { nm -a "$1" 2>/dev/null | grep -q __asan_init; }

# srv_start BIN MODEL [extra args]: start a server on a free port (with
# --sched $AMPED_SCHED for the event-driven models if that is set); sets
# SRV_PID SRV_URL SRV_HOST SRV_PORT.  Returns 1 (with a diagnostic) if no
# URL line arrives within 10 s.
srv_start() {
	local bin=$1 model=$2 i line poller=()
	shift 2
	case "$model" in
	*+*) poller=(--poller "${model#*+}") model=${model%%+*} ;;
	*) case "$POLLING_MODELS" in
	   *" $model "*) [ -n "${AMPED_POLLER:-}" ] && poller=(--poller "$AMPED_POLLER") ;;
	   esac ;;
	esac
	SRV_BIN=$bin SRV_MODEL=$model
	SRV_OUT=$T/srv.out SRV_ERR=$T/srv.err.$((++SRV_RUNS))
	: >"$SRV_OUT"
	# $AMPED_SCHED (fcfs|srpt) runs the event-driven models with --sched
	local sched=()
	case "$model" in
	mp | mt | ult | hybrid) ;;
	*) [ -n "${AMPED_SCHED:-}" ] && sched=(--sched "$AMPED_SCHED") ;;
	esac
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$bin" --root "$ROOT" --port 0 --model "$model" "${sched[@]}" "${poller[@]}" "$@" \
		>"$SRV_OUT" 2>"$SRV_ERR" </dev/null &
	SRV_PID=$!
	for i in $(seq 1 500); do
		line=$(head -n 1 "$SRV_OUT" 2>/dev/null)
		case "$line" in
		*listening\ on\ http://*/*) break ;;
		esac
		if ! kill -0 "$SRV_PID" 2>/dev/null; then break; fi
		sleep 0.02
	done
	SRV_URL=$(printf '%s' "$line" | sed -n 's|.*listening on \(http://[^ ]*/\).*|\1|p')
	if [ -z "$SRV_URL" ]; then
		diag "server did not start: stdout='$line'"
		sed 's/^/# stderr: /' "$SRV_ERR" | head -20
		if kill -0 "$SRV_PID" 2>/dev/null; then kill -KILL "$SRV_PID"; fi
		wait "$SRV_PID" 2>/dev/null
		SRV_PID=''
		return 1
	fi
	SRV_URL=${SRV_URL%/}
	SRV_PORT=${SRV_URL##*:}
	SRV_HOST=${SRV_URL#http://}
	SRV_HOST=${SRV_HOST%:*}
	SRV_HOST=${SRV_HOST#[}
	SRV_HOST=${SRV_HOST%]}
	return 0
}
SRV_RUNS=0

# proc_state PID: one-letter state from /proc, empty if gone.
proc_state() { sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null; }

# wait_gone PID SECONDS: wait until PID has exited (zombie or gone).
wait_gone() {
	local i st
	for i in $(seq 1 $(($2 * 50))); do
		st=$(proc_state "$1")
		[ -z "$st" ] || [ "$st" = Z ] && return 0
		sleep 0.02
	done
	return 1
}

# srv_stop [SIGNAL]: signal the server (TERM), check it exits 0 within 10 s,
# and that a sanitizer build reported nothing.
srv_stop() {
	local sig=${1:-TERM} rc
	[ -n "$SRV_PID" ] || return 0
	kill -"$sig" "$SRV_PID" 2>/dev/null
	if wait_gone "$SRV_PID" 10; then
		wait "$SRV_PID"
		rc=$?
		is "$rc" 0 "SIG$sig: server exits 0 within 10 s"
	else
		ok 1 "SIG$sig: server exits 0 within 10 s" "still running after 10 s; killing"
		kill -KILL "$SRV_PID" 2>/dev/null
		wait "$SRV_PID" 2>/dev/null
	fi
	SRV_PID=''
	srv_check_sanitizer
}

srv_check_sanitizer() {
	if is_asan "$SRV_BIN"; then
		if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SRV_ERR"; then
			ok 1 "no sanitizer report on stderr" "$(grep -E -A15 'ERROR: |runtime error:' "$SRV_ERR" | head -40)"
		else
			ok 0 "no sanitizer report on stderr"
		fi
	fi
}

# variants FUNC [server args]: for each build x model start a server with the
# args, run FUNC, stop it.  $V labels the tests.
variants() {
	local fn=$1 b m
	shift
	for b in "${BINS[@]}"; do
		for m in "${MODELS[@]}"; do
			V="[$b $m] "
			if srv_start "$b" "$m" "$@"; then
				ok 0 "server starts and prints its URL"
				"$fn"
				srv_stop TERM
			else
				ok 1 "server starts and prints its URL"
			fi
		done
	done
	V=''
}

# ---------------------------------------------------------------- clients
CURL=(curl -sS --max-time 10 --noproxy '*')

# get PATH [curl args]: GET $SRV_URL$PATH; headers to $HDR, body to $BODY;
# prints the status code (000 if no answer).
get() {
	local p=$1
	shift
	: >"$BODY"
	"${CURL[@]}" -o "$BODY" -D "$HDR" -w '%{http_code}' "$@" "$SRV_URL$p" 2>"$T/curl.err"
}
head_req() {
	local p=$1
	shift
	: >"$BODY"
	"${CURL[@]}" -I -o "$BODY" -D "$HDR" -w '%{http_code}' "$@" "$SRV_URL$p" 2>"$T/curl.err"
}
req() { # req METHOD PATH [curl args]
	local m=$1 p=$2
	shift 2
	: >"$BODY"
	"${CURL[@]}" -X "$m" -o "$BODY" -D "$HDR" -w '%{http_code}' "$@" "$SRV_URL$p" 2>"$T/curl.err"
}
# hdr NAME: value of header NAME in the last response in $HDR ('' if none).
hdr() {
	tr -d '\r' <"$HDR" | awk -v n="$1" '
		/^HTTP\// { delete v; next }
		{ i = index($0, ":"); if (i == 0) next
		  k = tolower(substr($0, 1, i - 1)); val = substr($0, i + 1)
		  sub(/^[ \t]+/, "", val); sub(/[ \t]+$/, "", val); v[k] = val }
		END { print v[tolower(n)] }'
}
has_hdr() { tr -d '\r' <"$HDR" | grep -qi "^$1:"; }

# raw [rawhttp options] STEP...: talk to the server over a raw socket; the
# report goes to $RAW (see tests/helpers/rawhttp.py).
RAW=$T/raw.out
raw() {
	local opts=()
	while [ $# -gt 0 ] && [ "${1#--}" != "$1" ]; do
		case "$1" in
		--raw) opts+=("$1"); shift ;;
		*) opts+=("$1" "$2"); shift 2 ;;
		esac
	done
	timeout 30 "$PY" "$RAWHTTP" "${opts[@]}" "$SRV_HOST" "$SRV_PORT" "$@" >"$RAW" 2>&1
}
r_status() { awk -v i="$1" '$1 == "RESP" && $2 == i { print $3 }' "$RAW"; }
r_count() { grep -c '^RESP ' "$RAW"; }
r_codes() { awk '$1 == "RESP" { printf "%s%s", s, $3; s = " " } END { print "" }' "$RAW"; }
r_hdr() { # r_hdr I NAME
	awk -v i="$1" -v n="$(echo "$2" | tr A-Z a-z)" \
		'$1 == "H" && $2 == i && $3 == n ":" { $1 = $2 = $3 = ""; sub(/^ +/, ""); print; exit }' "$RAW"
}
r_bodylen() { awk -v i="$1" '$1 == "BODY" && $2 == i { print $3 }' "$RAW"; }
r_bodysha() { awk -v i="$1" '$1 == "BODY" && $2 == i { print $4 }' "$RAW"; }
r_end() { awk '$1 ~ /^(CLOSED|OPEN|RESET)$/ { print $1 }' "$RAW"; }
r_end_s() { awk '$1 ~ /^(CLOSED|OPEN|RESET)$/ { print $2 }' "$RAW"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# r_diag: the raw report, trimmed, for a failing check's diagnostic.
r_diag() { grep -v '^TEXT' "$RAW" | head -30; grep '^TEXT' "$RAW" | cut -c1-300 | head -5; }

# fcmp FILE1 FILE2: 0 if identical.
fcmp() { cmp -s "$1" "$2"; }

# num_le A B (floating): 0 if A <= B.
num_le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
