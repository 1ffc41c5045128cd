#!/bin/bash
# Connection handling, for every build x model, with short timeouts
# (--header-timeout-ms 1000 --keepalive-timeout-ms 1000): curl reuses one
# connection; raw keep-alive (also with pauses below the timeout); HTTP/1.0
# closes unless it asks for keep-alive; "Connection: close" closes;
# pipelined requests (including 50 uncached files, which AMPED helpers
# finish in any order) are answered in order; requests split at odd places;
# a partial head gets 408 within ~1 s, also when trickled slowloris-style;
# an idle keep-alive connection is closed silently after ~1 s.
. "$(dirname "$0")/lib.sh"

make_docroot "$ROOT"
H='Host: x\r\n'

conn() {
	local c out i ok_all s e

	# curl: two URLs in one invocation share the connection.
	out=$("${CURL[@]}" -v -o /dev/null -o /dev/null -w '%{http_code} ' \
		"$SRV_URL/a.txt" "$SRV_URL/1k.txt" 2>"$T/curl.v")
	is "$out" '200 200 ' "curl: two URLs, both 200"
	ok "$(grep -qi 'Re-using existing connection' "$T/curl.v"; echo $?)" \
		"curl reuses the connection for the second URL" "$(grep -i 'connect' "$T/curl.v" | head -5)"

	# Raw keep-alive: three requests one after another on one socket.
	raw --until 3 --linger 2 "GET /a.txt HTTP/1.1\r\n$H\r\n" "HEAD /1k.txt HTTP/1.1\r\n$H\r\n" "GET /1k.txt HTTP/1.1\r\n$H\r\n"
	ok "$([ "$(r_codes)" = "200 200 200" ] && [ "$(r_bodysha 1)" = "$(sha "$ROOT/a.txt")" ] \
		&& [ "$(r_bodylen 2)" = 0 ] && [ "$(r_bodysha 3)" = "$(sha "$ROOT/1k.txt")" ]; echo $?)" \
		"HTTP/1.1 keep-alive: GET, HEAD, GET on one connection" "$(r_diag)"
	raw --until 2 --gap 0.5 --linger 2 "GET /a.txt HTTP/1.1\r\n$H\r\n" "GET /a.txt HTTP/1.1\r\n$H\r\n"
	is "$(r_codes)" "200 200" "keep-alive survives a 0.5 s pause (timeout 1 s)"

	# HTTP/1.0.
	raw --linger 3 'GET /a.txt HTTP/1.0\r\n\r\n'
	s=$(r_end_s)
	ok "$([ "$(r_status 1)" = 200 ] && [ "$(r_end)" = CLOSED ] && num_le "$s" 0.7; echo $?)" \
		"HTTP/1.0 without keep-alive: server closes right after the answer" "$(r_diag)"
	raw --settle 0.1 --linger 0.3 'GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' 'GET /1k.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'
	ok "$([ "$(r_codes)" = "200 200" ] && [ "$(r_end)" = OPEN ] \
		&& [ "$(r_bodysha 2)" = "$(sha "$ROOT/1k.txt")" ]; echo $?)" \
		"HTTP/1.0 with Connection: keep-alive stays open for a second request" "$(r_diag)"
	like "$(r_hdr 1 Connection)" '^[Kk]eep-[Aa]live$' "HTTP/1.0 keep-alive answer says Connection: keep-alive"

	# Connection: close.
	raw --linger 3 "GET /a.txt HTTP/1.1\r\n${H}Connection: close\r\n\r\n"
	s=$(r_end_s)
	ok "$([ "$(r_status 1)" = 200 ] && [ "$(r_end)" = CLOSED ] && num_le "$s" 0.7; echo $?)" \
		"Connection: close: server closes right after the answer" "$(r_diag)"
	like "$(r_hdr 1 Connection)" '^[Cc]lose$' "Connection: close answer says Connection: close"

	# Pipelining: mixed requests in one write, answered in order.
	raw --until 6 --linger 2 "GET /a.txt HTTP/1.1\r\n$H\r\nGET /1k.txt HTTP/1.1\r\n$H\r\nHEAD /index.html HTTP/1.1\r\n$H\r\nGET /nope.txt HTTP/1.1\r\n$H\r\nGET /rand.bin HTTP/1.1\r\n$H\r\nGET /sub/ HTTP/1.1\r\n$H\r\n"
	is "$(r_codes)" "200 200 200 404 200 200" "6 pipelined requests: statuses in order"
	ok "$([ "$(r_bodysha 1)" = "$(sha "$ROOT/a.txt")" ] && [ "$(r_bodysha 2)" = "$(sha "$ROOT/1k.txt")" ] \
		&& [ "$(r_bodylen 3)" = 0 ] && [ "$(r_bodysha 5)" = "$(sha "$ROOT/rand.bin")" ] \
		&& [ "$(r_bodysha 6)" = "$(sha "$ROOT/sub/index.html")" ] && grep -q '^EXTRA 0$' "$RAW"; echo $?)" \
		"6 pipelined requests: bodies in order" "$(r_diag)"

	raw --linger 3 "GET /a.txt HTTP/1.1\r\n$H\r\nGET /1k.txt HTTP/1.1\r\n$H\r\nGET /index.html HTTP/1.1\r\n${H}Connection: close\r\n\r\n"
	ok "$([ "$(r_codes)" = "200 200 200" ] && [ "$(r_end)" = CLOSED ] \
		&& [ "$(r_bodysha 3)" = "$(sha "$ROOT/index.html")" ]; echo $?)" \
		"3 pipelined, the last with Connection: close: all answered, then closed" "$(r_diag)"

	# 50 uncached files pipelined; a new set for each server run.
	s=$(( (SRV_RUNS * 50) % 200 ))
	out=''
	for i in $(seq "$s" $((s + 49))); do out="${out}GET /many/f$(printf %03d "$i").txt HTTP/1.1\r\n$H\r\n"; done
	rm -rf "$T/bodies" && mkdir "$T/bodies"
	raw --until 50 --linger 3 --bodies "$T/bodies" "$out"
	ok_all=0
	for i in $(seq 1 50); do
		e=$ROOT/many/f$(printf %03d $((s + i - 1))).txt
		fcmp "$T/bodies/body.$i" "$e" || { ok_all=1; diag "answer $i is not $e: $(head -c 40 "$T/bodies/body.$i" 2>/dev/null)"; break; }
	done
	ok "$([ "$(r_count)" = 50 ] && [ $ok_all = 0 ]; echo $?)" "50 pipelined uncached files answered in order" "$(r_codes)"

	# Requests split at odd places, and fed byte by byte.
	raw --until 2 --linger 2 "GET /a.txt HTTP/1.1\r\n$H\r\nGET /1k" ".txt HTTP/1.1\r\n$H\r\n"
	ok "$([ "$(r_codes)" = "200 200" ] && [ "$(r_bodysha 2)" = "$(sha "$ROOT/1k.txt")" ]; echo $?)" \
		"second pipelined request split across writes" "$(r_diag)"
	raw --until 1 --linger 2 "GET /a.txt HTTP/1.1\r\nHo" "st: x\r\n\r" "\n"
	ok "$([ "$(r_codes)" = "200" ] && [ "$(r_bodysha 1)" = "$(sha "$ROOT/a.txt")" ]; echo $?)" \
		"head split inside a header name and between CR and LF" "$(r_diag)"
	raw --until 2 --linger 2 --bytewise 2 "GET /a.txt HTTP/1.1\r\n$H\r\nGET /index.html HTTP/1.1\r\n$H\r\n"
	ok "$([ "$(r_codes)" = "200 200" ] && [ "$(r_bodysha 2)" = "$(sha "$ROOT/index.html")" ]; echo $?)" \
		"two pipelined requests fed byte by byte" "$(r_diag)"
	raw --until 1 --linger 2 --bytewise 5 "GET /a.txt HTTP/1.1\r\n$H\r\n"
	is "$(r_status 1)" 200 "a head trickled in over ~0.2 s (< header timeout) -> 200"

	# The timeout cases run side by side (each on its own connection) to
	# keep the test short.
	# 408: a partial head, then silence.
	local pids=()
	RAW=$T/t408 raw --linger 6 --timeout 8 "GET /a.txt HTTP/1.1\r\n$H" &
	pids+=($!)
	# 408: slowloris, one byte every 250 ms never finishing the head; the
	# timeout runs from the first byte, not the last.
	RAW=$T/tslow raw --linger 6 --timeout 15 --bytewise 250 "GET /a.txt HTTP/1.1\r\n${H}X-Slow: abcdefgh" &
	pids+=($!)
	# Idle keep-alive connections are closed silently after ~1 s.
	RAW=$T/tidle raw --linger 5 --timeout 8 "GET /a.txt HTTP/1.1\r\n$H\r\n" &
	pids+=($!)
	RAW=$T/tnone raw --linger 5 --timeout 8 '' &
	pids+=($!)
	wait "${pids[@]}"	# not a bare wait: the server is our child too

	RAW=$T/t408
	s=$(r_end_s)
	ok "$([ "$(r_status 1)" = 408 ] && [ "$(r_end)" != OPEN ] && num_le 0.5 "$s" && num_le "$s" 3; echo $?)" \
		"partial head -> 408 and close after ~1 s (0.5..3 s)" "$(r_diag)"
	RAW=$T/tslow
	s=$(awk '$1 == "ELAPSED" { print $2 }' "$RAW")
	ok "$([ "$(r_status 1)" = 408 ] && [ "$(r_end)" != OPEN ] && num_le "$s" 4; echo $?)" \
		"slowloris trickle -> 408 within 4 s" "$(r_diag)"
	RAW=$T/tidle
	s=$(r_end_s)
	ok "$([ "$(r_count)" = 1 ] && [ "$(r_status 1)" = 200 ] && [ "$(r_end)" != OPEN ] \
		&& grep -q '^EXTRA 0$' "$RAW" && num_le 0.5 "$s" && num_le "$s" 3.5; echo $?)" \
		"idle keep-alive connection closed silently after ~1 s (0.5..3.5 s)" "$(r_diag)"
	RAW=$T/tnone
	s=$(r_end_s)
	ok "$([ "$(r_end)" != OPEN ] && num_le "$s" 3.5; echo $?)" \
		"a connection that never sends is closed within 3.5 s" "$(r_diag)"
	RAW=$T/raw.out
	c=$(get /a.txt)
	is "$c" 200 "server still serves after the timeouts"
}

variants conn --header-timeout-ms 1000 --keepalive-timeout-ms 1000
done_testing
