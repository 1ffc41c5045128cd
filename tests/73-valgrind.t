#!/bin/bash
# A short valgrind memcheck run of the normal build, models sped and amped
# (amped's helper processes are forks, so memcheck follows them too): a few
# hundred requests of every kind (files, misses, redirects, ranges,
# conditionals, malformed heads, resets), then SIGTERM.  Every process must
# report no memcheck error and no definitely lost block.
. "$(dirname "$0")/lib.sh"

HOSTILE=tests/fuzz/hostile.py
if ! command -v valgrind >/dev/null; then
	echo "1..0 # skip valgrind not installed (scripts/deps.sh installs it)"
	exit 0
fi
make_docroot "$ROOT"
BIN=${BINS[0]}
VG=$T/vg
mkdir -p "$VG"
# valgrind 3.19 (Debian 12) does not implement openat2 (syscall 437): every
# open would fail with ENOSYS and every file be a 500.  A preloaded shim
# turns the call into a plain openat (see tests/fuzz/openat2_shim.c) so the
# file-serving code runs under memcheck; traversal is tested elsewhere.
cc -shared -fPIC -O1 -Wall -Wextra -Werror -o "$T/openat2_shim.so" tests/fuzz/openat2_shim.c -ldl || {
	echo "Bail out! cannot build tests/fuzz/openat2_shim.c"
	exit 1
}
cat >"$T/vgwrap" <<EOF
#!/bin/sh
LD_PRELOAD=$T/openat2_shim.so exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
	--errors-for-leak-kinds=definite --track-fds=no --num-callers=30 \
	--log-file=$VG/vg.%p "$PWD/$BIN" "\$@"
EOF
chmod +x "$T/vgwrap"

{
	for p in /a.txt /1k.txt /rand.bin /index.html /sub/ /sub /nope.txt /deep/a/b/c.txt \
		/link-in.txt /unreadable.txt /style.css /data.zzqx; do
		echo "$p"
	done
	for i in $(seq 0 9); do echo "/many/f00$i.txt"; done
} >"$T/paths"
printf 'bad\tGE(T / HTTP/1.1\\r\\n\\r\\n\nte\tGET / HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n\nbody\tGET /a.txt HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 3\\r\\n\\r\\nabc\ntrav\tGET /%%2e%%2e/etc/passwd HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\npost\tPOST /a.txt HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\nhalf\tGET /a.txt HTTP/1.1\\r\\nHo\n' >"$T/cases"

exercise() {
	local out c
	out=$(timeout 120 "$PY" "$HOSTILE" load "$SRV_HOST" "$SRV_PORT" 30 4 "$T/paths" --max 300 2>&1)
	ok "$(printf '%s\n' "$out" | awk '$1 == "LOAD" && $2 == 300 && $3 >= 150 && $6 == 0 { f = 1 } END { exit !f }'; echo $?)" \
		"300 requests under memcheck (mostly files, some 301/403/404), none lost" "$out"
	diag "$(printf '%s' "$out" | tr '\n' ' ')"
	c=$(get /a.txt)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/a.txt"; echo $?)" "GET /a.txt -> 200 under memcheck" "got $c"
	c=$(get /rand.bin -H 'Range: bytes=100-199')
	is "$c" 206 "range request -> 206"
	c=$(get /a.txt -H "If-Modified-Since: $FIX_LASTMOD")
	is "$c" 304 "conditional request -> 304"
	c=$(get /rand.bin)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/rand.bin"; echo $?)" "100 KB file -> 200, intact" "got $c"
	timeout 60 "$PY" "$HOSTILE" cases "$SRV_HOST" "$SRV_PORT" "$T/cases" >"$T/cases.out" 2>&1
	is "$(grep -c '^CASE' "$T/cases.out")" 6 "malformed heads answered or closed"
	out=$(timeout 60 "$PY" "$HOSTILE" reset "$SRV_HOST" "$SRV_PORT" 10 2 /rand.bin 16384 2>&1)
	is "$out" "RESET 10 10" "10 clients reset mid-transfer"
}

for m in sped amped; do
	rm -f "$VG"/vg.*
	V="[valgrind $BIN $m] "
	SECONDS=0
	if srv_start "$T/vgwrap" "$m" --helpers 2 --shutdown-timeout-ms 2000; then
		exercise
		srv_stop TERM
		# helpers exit after the dispatcher closes their sockets
		sleep 1
		n=$(ls "$VG" | wc -l)
		ok "$([ "$n" -ge 1 ]; echo $?)" "memcheck wrote $n report(s)"
		bad=$(grep -L 'ERROR SUMMARY: 0 errors' "$VG"/vg.* 2>/dev/null)
		ok "$([ -z "$bad" ]; echo $?)" "no memcheck errors in any process" \
			"$(for f in $bad; do grep -E -A12 '^==[0-9]+== (Invalid|Conditional|Syscall|Mismatched|Source|.*definitely lost)' "$f" | head -40; grep 'ERROR SUMMARY' "$f"; done)"
		bad=$(grep -l 'definitely lost: [1-9]' "$VG"/vg.* 2>/dev/null)
		ok "$([ -z "$bad" ]; echo $?)" "no definitely lost blocks" "$(for f in $bad; do grep -A20 'definitely lost in' "$f" | head -40; done)"
		unh=$(grep -h 'unhandled' "$VG"/vg.* | sort -u | head -3)
		[ -n "$unh" ] && diag "valgrind: $unh"
		diag "$m under memcheck: $n process(es), $SECONDS s; $(grep -h 'ERROR SUMMARY' "$VG"/vg.* | sed 's/==[0-9]*== //' | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
	else
		ok 1 "server starts under valgrind"
	fi
done
V=''
done_testing
