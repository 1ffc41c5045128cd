#!/bin/bash
# Hostile clients, for every model in AMPED_MODELS (both builds unless noted),
# over loopback, with tests/fuzz/hostile.py as the client:
#   - slow headers: a head sent one byte a second gets 408 at the header
#     timeout (2 s here) and a close, while other clients are served at
#     once (curl requests and the malformed/traversal cases run meanwhile);
#   - malformed requests tests/22 does not cover: bad methods and versions,
#     NUL and bare CR anywhere, Content-Length with Transfer-Encoding,
#     obs-fold, bodies on GET that look like requests (by length and
#     chunked), hostile chunk framing, a flood of ranges -> the right
#     status and, where the framing is in doubt, a close with nothing more
#     answered;
#   - a path-traversal corpus (encoded, double-encoded, backslashes,
#     overlong UTF-8, symlinks leaving the root, /proc/self/root magic
#     links) against a secret planted next to the root: never served, and
#     again once the answers are in the path cache;
#   - more connections than --max-conns (normal build): no crash, the
#     excess waits and is served once the first ones close; the same with
#     RLIMIT_NOFILE far below the offered connections.
. "$(dirname "$0")/lib.sh"

HOSTILE=tests/fuzz/hostile.py
make_docroot "$ROOT"
SECRET="AMPED-SECRET-$$-$RANDOM$RANDOM"
printf '%s\n' "$SECRET" >"$T/secret.txt"
mkdir -p "$T/outside"
printf '%s\n' "$SECRET" >"$T/outside/secret.txt"
ln -s ../secret.txt "$ROOT/esc"
ln -s .. "$ROOT/escdir"
ln -s "$T/secret.txt" "$ROOT/abs"
ln -s ../../secret.txt "$ROOT/sub/up"
ln -s /proc/self/root "$ROOT/procroot"
ln -s /proc/self/cwd "$ROOT/proccwd"
ln -s "/proc/self/root$T" "$ROOT/procT"
printf 'inside marker\n' >"$ROOT/inside.txt"
head -c $((16 << 20)) /dev/zero >"$ROOT/big16.bin"

# ---------------------------------------------------------------- cases
# NAME  WANT (ERE on "STATUS END NRESP")  REQUEST
CASES=$T/cases
WANT=()
: >"$CASES"
case_add() {
	printf '%s\t%s\n' "$1" "$3" >>"$CASES"
	WANT+=("$1=$2")
}
CLOSE1='closed 1$'
case_add method-lowercase "^501 $CLOSE1" 'get /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
case_add method-nontoken "^400 $CLOSE1" 'GE(T /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
case_add method-empty "^400 $CLOSE1" ' /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
case_add method-nul "^400 $CLOSE1" 'G\x00T /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
case_add method-8bit "^400 $CLOSE1" 'G\xc9T /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
case_add method-long "^501 $CLOSE1" "$(printf 'GET%.0s' $(seq 1 300)) /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
case_add version-lowercase "^400 $CLOSE1" 'GET /a.txt http/1.1\r\nHost: x\r\n\r\n'
case_add version-short "^400 $CLOSE1" 'GET /a.txt HTTP/1\r\nHost: x\r\n\r\n'
case_add version-two-digit "^400 $CLOSE1" 'GET /a.txt HTTP/1.10\r\nHost: x\r\n\r\n'
case_add version-trailing-space "^400 $CLOSE1" 'GET /a.txt HTTP/1.1 \r\nHost: x\r\n\r\n'
case_add version-missing "^400 $CLOSE1" 'GET /a.txt\r\nHost: x\r\n\r\n'
case_add version-9.9 "^505 $CLOSE1" 'GET /a.txt HTTP/9.9\r\nHost: x\r\n\r\n'
case_add version-1.2-is-1.1 "^200 open 1$" 'GET /a.txt HTTP/1.2\r\nHost: x\r\n\r\n'
case_add nul-before-request "^400 $CLOSE1" '\x00GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
case_add nul-in-target "^400 $CLOSE1" 'GET /a.txt\x00 HTTP/1.1\r\nHost: x\r\n\r\n'
case_add nul-in-field-name "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nX\x00Y: 1\r\n\r\n'
case_add nul-in-field-value "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: 1\x002\r\n\r\n'
case_add bare-cr-line-end "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\rHost: x\r\n\r\n'
case_add bare-cr-in-value "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n'
case_add del-in-value "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: 1\x7f\r\n\r\n'
# Huge: one 10000-byte field (limit 8192) and a 200 KB stream of fields.
case_add huge-field "^431 closed" "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Big: $(printf 'z%.0s' $(seq 1 10000))\r\n\r\n"
case_add endless-head "^431 (closed|reset)" "GET /a.txt HTTP/1.1\r\nHost: x\r\n$(for i in $(seq 1 4000); do printf 'X-%d: 12345678901234567890123456789012345678901234\\r\\n' "$i"; done)\r\n"
case_add endless-line "^414 (closed|reset)" "GET /$(printf 'y%.0s' $(seq 1 20000))"
# RFC 9112 §6.1: both framings -> reject (or use TE) and close; the bytes
# after the head must not be answered as a second request (smuggling).
case_add cl-and-te "^(400|501) $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
case_add te-and-cl "^(400|501) $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
case_add te-identity "^(400|501) $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n'
case_add te-space-before-colon "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n'
case_add cl-negative "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'
case_add cl-plus-sign "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello'
case_add cl-list "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello'
case_add cl-hex "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello'
case_add obs-fold-then-request "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tfolded\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
case_add obs-fold-host "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost:\r\n x\r\n\r\n'
case_add space-before-first-field "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\n Host: x\r\n\r\n'
# A GET body that looks like a request is skipped, never answered: two
# answers (the GET and the one after the body), not three.
case_add get-body-is-not-a-request "^200 closed 2$" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\n\r\nGET /nope.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
case_add get-body-too-big "^413 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nxxxx'
# Chunked bodies on GET (tests/27 has the rest): a chunk that holds a
# request is dropped, never answered; a size past 2^64 is a 413, never an
# overflow; a bare LF in the framing (how parsers are made to disagree on
# where a body ends) is a 400 with nothing after it answered.
case_add chunked-body-is-not-a-request "^200 closed 2$" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n23\r\nGET /nope.txt HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
case_add chunk-size-overflow "^413 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000000005\r\nhello\r\n0\r\n\r\nGET /nope.txt HTTP/1.1\r\nHost: x\r\n\r\n'
case_add chunk-bare-lf-smuggle "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\nGET /nope.txt HTTP/1.1\r\nHost: x\r\n\r\n'
case_add chunk-ext-lf-smuggle "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;a\n0\r\n\r\nGET /nope.txt HTTP/1.1\r\nHost: x\r\n\r\n'
case_add te-twice "^400 $CLOSE1" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /nope.txt HTTP/1.1\r\nHost: x\r\n\r\n'
# A thousand ranges (CVE-2011-3192's shape): ignored, one plain 200.
case_add range-flood "^200 closed 1$" "GET /rand.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\nRange: bytes=0-$(printf ',%d-%d' $(seq 1 600 | sed 's/.*/& &/'))\r\n\r\n"

# Traversal: every answer 400/403/404, the secret never in any byte.
TRAV=$T/trav
: >"$TRAV"
trav_add() { printf '%s\tGET %s HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\n' "$1" "$2" >>"$TRAV"; }
trav_add dotdot '/../secret.txt'
trav_add sub-dotdot '/sub/../../secret.txt'
trav_add dot-dotdot '/./../secret.txt'
trav_add enc-dotdot '/%2e%2e/secret.txt'
trav_add enc-upper '/%2E%2E%2Fsecret.txt'
trav_add enc-half '/.%2e/secret.txt'
trav_add enc-half2 '/%2e./secret.txt'
trav_add enc-deep "$(printf '/%%2e%%2e%%2f%.0s' $(seq 1 12))$T/secret.txt"
trav_add sub-enc '/sub/%2e%2e/%2e%2e/secret.txt'
trav_add double-enc '/%252e%252e/secret.txt'
trav_add double-enc-slash '/%252e%252e%252fsecret.txt'
trav_add double-enc-mixed '/..%252fsecret.txt'
trav_add backslash '/..\\secret.txt'
trav_add backslash-sub '/sub\\..\\..\\secret.txt'
trav_add enc-backslash '/..%5csecret.txt'
trav_add enc-backslash2 '/%5c..%5csecret.txt'
trav_add double-enc-backslash '/..%255csecret.txt'
trav_add overlong-dot '/%c0%ae%c0%ae/secret.txt'
trav_add overlong-slash '/..%c0%afsecret.txt'
trav_add overlong-both '/%c0%ae%c0%ae%c0%afsecret.txt'
trav_add overlong-3byte '/%e0%80%ae%e0%80%ae/secret.txt'
trav_add overlong-c02e '/%c0%2e%c0%2e/secret.txt'
trav_add overlong-backslash '/..%c1%9csecret.txt'
trav_add u-escape '/%uff0e%uff0e/secret.txt'
trav_add fullwidth-dots '/%ef%bc%8e%ef%bc%8e/secret.txt'
trav_add dotdot-semicolon '/..;/secret.txt'
trav_add trailing-dotdot '/esc/..'
trav_add absolute-path "/$T/secret.txt"
trav_add absolute-double "//$T/secret.txt"
trav_add abs-form 'http://127.0.0.1/../secret.txt'
trav_add abs-form-enc 'http://127.0.0.1/%2e%2e/secret.txt'
trav_add abs-form-authority 'http://127.0.0.1/..%2f..%2fsecret.txt'
trav_add no-slash '../secret.txt'
trav_add symlink-rel '/esc'
trav_add symlink-dir '/escdir/secret.txt'
trav_add symlink-dir-outside '/escdir/outside/secret.txt'
trav_add symlink-abs '/abs'
trav_add symlink-nested '/sub/up'
trav_add symlink-root "/linkroot$T/secret.txt"
trav_add symlink-via-linkdir '/linkdir/../esc'
trav_add proc-self-root "/proc/self/root$T/secret.txt"
trav_add proc-magic-root "/procroot$T/secret.txt"
trav_add proc-magic-cwd '/proccwd/README.md'
trav_add proc-magic-deep '/procT/secret.txt'
trav_add proc-magic-enc "/procroot%2f$(printf '%s' "$T" | sed 's|/|%2f|g')%2fsecret.txt"
trav_add nul-suffix '/esc%00.html'
# Positive controls: the machinery does serve what it should.
printf 'inside\tGET /inside.txt HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\n' >>"$TRAV"
printf 'link-inside\tGET /link-in.txt HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\n' >>"$TRAV"

run_cases() { # FILE OUT
	timeout 60 "$PY" "$HOSTILE" cases "$SRV_HOST" "$SRV_PORT" "$1" --secret "$SECRET" >"$2" 2>&1
}

check_cases() {
	local w name re line got
	for w in "${WANT[@]}"; do
		name=${w%%=*}
		re=${w#*=}
		line=$(grep "^CASE $name " "$T/cases.out")
		got=${line#CASE $name }
		got=${got% [01]}
		ok "$(printf '%s' "$got" | grep -Eq -- "$re"; echo $?)" "malformed $name -> /$re/" "got: '$line'"
	done
}

check_trav() { # OUT LABEL
	local bad nlines
	nlines=$(grep -c '^CASE ' "$1")
	is "$nlines" "$(wc -l <"$TRAV")" "traversal corpus ($2): every case answered or closed"
	bad=$(awk '$1 == "CASE" && $2 !~ /^(inside|link-inside)$/ && ($3 !~ /^40[034]$/ || $6 != 0)' "$1")
	ok "$([ -z "$bad" ]; echo $?)" "traversal corpus ($2): $((nlines - 2)) attacks -> 400/403/404, secret never sent" "$bad"
	bad=$(awk '$1 == "CASE" && $2 ~ /^(inside|link-inside)$/ && $3 != "200"' "$1")
	ok "$([ -z "$bad" ]; echo $?)" "traversal corpus ($2): files inside the root still served" "$bad"
}

hostile() {
	local slow1 slow2 slowrd i c t bad=0 slowest=0 line
	# Two slow heads, one byte a second, started first.
	timeout 30 "$PY" "$HOSTILE" slow "$SRV_HOST" "$SRV_PORT" 'GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Slow: 1234567890\r\n\r\n' 1.0 >"$T/slow1" 2>&1 &
	slow1=$!
	timeout 30 "$PY" "$HOSTILE" slow "$SRV_HOST" "$SRV_PORT" 'GET /1k.txt HTTP/1.1\r\nHost: x\r\nX-Slow: 1234567890\r\n\r\n' 1.0 >"$T/slow2" 2>&1 &
	slow2=$!
	# A client that stops reading a 16 MB answer for 3.5 s: the server gives
	# up at its 2 s send timeout.
	timeout 60 "$PY" "$HOSTILE" slowread "$SRV_HOST" "$SRV_PORT" /big16.bin 3.5 >"$T/slowread" 2>&1 &
	slowrd=$!
	sleep 0.2
	# Meanwhile: ordinary clients, the malformed cases, the traversal corpus.
	for i in $(seq 1 10); do
		t=$( { "${CURL[@]}" -o /dev/null -w '%{http_code} %{time_total}' "$SRV_URL/1k.txt"; } 2>/dev/null)
		c=${t% *}
		[ "$c" = 200 ] || bad=$((bad + 1))
		num_le "${t#* }" "$slowest" || slowest=${t#* }
	done
	ok "$([ "$bad" = 0 ] && num_le "$slowest" 1.0; echo $?)" \
		"while two heads trickle in: 10 GETs -> 200, each < 1 s" "failures $bad, slowest ${slowest} s"
	diag "slowest of 10 GETs beside the slow heads: $slowest s"
	run_cases "$CASES" "$T/cases.out"
	check_cases
	run_cases "$TRAV" "$T/trav1.out"
	check_trav "$T/trav1.out" "first pass"
	run_cases "$TRAV" "$T/trav2.out"
	check_trav "$T/trav2.out" "again, from the path cache"

	wait "$slow1"
	wait "$slow2"
	for f in slow1 slow2; do
		line=$(cat "$T/$f")
		# Header timeout 2 s, timers checked every 100 ms: 408 within
		# 1.5-4 s of the first byte (the lower bound allows for the early
		# firing below; the upper for a loaded CI machine).
		ok "$(awk '$1 == "SLOW" && $2 == "408" && $3 >= 1.5 && $3 <= 4.0 && $4 == "closed" { f = 1 } END { exit !f }' "$T/$f"; echo $?)" \
			"slow head (1 byte/s, $f) -> 408 at the 2 s header timeout, then close" "got: '$line' (SLOW status seconds end bytes-sent)"
		# Deadlines are stamped with the clock of the wake-up that
		# handled the event (a coarse clock: a few ms of slack).
		ok "$(awk '$1 == "SLOW" && $3 >= 1.98 { f = 1 } END { exit !f }' "$T/$f"; echo $?)" \
			"slow head ($f): 408 not before the 2 s header timeout" \
			"got $(awk '{ print $3 }' "$T/$f") s"
	done
	wait "$slowrd"
	line=$(cat "$T/slowread")
	c=$(awk '$1 == "SLOWREAD" && $2 >= 0 && $2 < 16777216 && $3 != "open" { f = 1 } END { exit !f }' "$T/slowread"; echo $?)
	# In mp/mt the worker blocks in sendfile(): each call is one 64 KiB
	# piece, so SO_SNDTIMEO bounds it as the event loop's timer does.
	ok "$c" "a client that stops reading for 3.5 s: the server gives up at the 2 s send timeout (part of the body, then close)" \
		"got: '$line' (SLOWREAD body-bytes end)"
	c=$(get /a.txt)
	is "$c" 200 "server still serves after the hostile clients"
}

flood() {
	local out k=$1
	out=$(timeout 60 "$PY" "$HOSTILE" flood "$SRV_HOST" "$SRV_PORT" "$k" /1k.txt 20 2>&1)
	ok "$(printf '%s' "$out" | awk '$1 == "FIRST" && $2 >= 1 { f = 1 } END { exit !f }'; echo $?)" \
		"$k connections: the first ones served at once" "$out"
	ok "$(printf '%s' "$out" | awk -v k="$k" '$1 == "END" && $2 == k && $3 == 0 && $4 == 0 { f = 1 } END { exit !f }'; echo $?)" \
		"$k connections, more than the server takes: all $k served once the first close" "$out"
	diag "flood: $(printf '%s' "$out" | tr '\n' ' ')"
	c=$(get /a.txt)
	is "$c" 200 "server serves after the flood"
}
flood40() { flood 40; }

variants hostile --header-timeout-ms 2000 --send-timeout-ms 2000

# --max-conns 8 (per process for symped), 4 workers for mp/mt: 40 clients.
SAVED_BINS=("${BINS[@]}")
BINS=("${BINS[0]}")
for m in "${MODELS[@]}"; do
	V="[${BINS[0]} $m max-conns 8] "
	if srv_start "${BINS[0]}" "$m" --max-conns 8 --workers 4 --helpers 2 --keepalive-timeout-ms 10000; then
		flood40
		srv_stop TERM
	else
		ok 1 "server starts"
	fi
done

# The fd budget itself: under RLIMIT_NOFILE 160 the server lowers
# --max-conns to what fits (~76 connections; mt splits its cache instead);
# 300 clients arrive at once.
lowbin=${BINS[0]}
case "$lowbin" in /*) ;; *) lowbin=$PWD/$lowbin ;; esac
cat >"$T/lowfd" <<EOF
#!/bin/sh
exec prlimit --nofile=160:160 $lowbin "\$@"
EOF
chmod +x "$T/lowfd"
for m in "${MODELS[@]}"; do
	V="[${BINS[0]} $m RLIMIT_NOFILE 160] "
	if srv_start "$T/lowfd" "$m" --cache-entries 16 --helpers 2 --workers 4 --keepalive-timeout-ms 10000; then
		ok "$(grep -q 'max-conns .* lowered' "$SRV_ERR"; echo $?)" \
			"server lowers --max-conns to its fd budget" "$(head -5 "$SRV_ERR")"
		flood 300
		srv_stop TERM
	else
		ok 1 "server starts"
	fi
done
BINS=("${SAVED_BINS[@]}")
V=''
done_testing
