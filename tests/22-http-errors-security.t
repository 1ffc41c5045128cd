#!/bin/bash
# Error statuses and path attacks, for every build x model: 405 + Allow for
# every non-GET/HEAD method, 501 (unknown method, a coding before chunked), 505,
# 400 (garbage, no Host on 1.1, bad request line, bad header), 414, 431,
# 413, a small GET body skipped correctly, error bodies; then traversal
# attempts (raw socket, since curl normalises; and curl --path-as-is) never
# return /etc/passwd and answer 400/403/404; the server survives all of it.
. "$(dirname "$0")/lib.sh"

make_docroot "$ROOT"
# Special files in the root: opening a FIFO for reading would block the
# opener; a device would be opened.  Both must get 403 at once.
mkfifo "$ROOT/fifo"
if [ "$(id -u)" = 0 ]; then mknod "$ROOT/zero" c 1 5; fi
PASSWD_RE='root:[^:]*:0:0:'

# raw_code DESC WANT-ERE STEP: one request on its own connection; the first
# answer's status must match WANT-ERE.
raw_code() {
	raw --until 1 --linger 2 --timeout 8 "$3"
	ok "$(r_status 1 | grep -Eqx -- "$2"; echo $?)" "$1 -> $2" "$(r_diag)"
}

# attack DESC STEP: a traversal attempt: 400/403/404 and no passwd content.
attack() {
	raw --until 1 --linger 2 --timeout 8 --raw "$2"
	ok "$( [[ $(r_status 1) =~ ^40[034]$ ]] && ! grep -Eq "$PASSWD_RE" "$RAW"; echo $?)" \
		"traversal $1 -> 400/403/404, no passwd content" "$(r_diag)"
}

errs() {
	local c m i pad big

	# 405 with Allow.
	for m in POST PUT DELETE OPTIONS PATCH TRACE CONNECT; do
		c=$(req "$m" /a.txt)
		ok "$([ "$c" = 405 ] && [ "$(hdr Allow)" = 'GET, HEAD' ]; echo $?)" \
			"$m -> 405 with Allow: GET, HEAD" "code $c, Allow: '$(hdr Allow)'"
	done
	like "$(hdr Content-Type)" '^text/html' "405 body is text/html"
	is "$(hdr Content-Length)" "$(stat -c %s "$BODY")" "405 Content-Length matches the body"
	c=$(req POST /a.txt -d 'x=1')
	is "$c" 405 "POST with a form body -> 405"

	# 501.
	c=$(req FOO /a.txt)
	is "$c" 501 "unknown method FOO -> 501"
	raw_code "unknown method BREW (raw)" 501 'BREW /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
	# (a chunked body on GET is read and dropped: tests/27-http-gaps.t)
	raw_code "GET with Transfer-Encoding: gzip, chunked" 501 \
		'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'

	# 505.
	raw_code "HTTP/2.0 request line" 505 'GET /a.txt HTTP/2.0\r\nHost: x\r\n\r\n'
	raw_code "HTTP/0.9 request line" 505 'GET /a.txt HTTP/0.9\r\nHost: x\r\n\r\n'
	raw_code "HTTP/3.0 request line" 505 'GET /a.txt HTTP/3.0\r\nHost: x\r\n\r\n'

	# 400.
	raw_code "binary garbage" 400 '\x01\x02\x03garbage\xff\xfe\r\n\r\n'
	raw_code "HTTP/1.1 without Host" 400 'GET /a.txt HTTP/1.1\r\n\r\n'
	raw_code "request line without target and version" 400 'GET\r\n\r\n'
	raw_code "header line without a colon" 400 'GET /a.txt HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'
	raw_code "space before the colon (smuggling)" 400 'GET /a.txt HTTP/1.1\r\nHost : x\r\n\r\n'
	raw_code "bad protocol name" 400 'GET /a.txt HTTX/1.1\r\nHost: x\r\n\r\n'
	raw_code "target without a leading slash" 400 'GET a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
	raw_code "bad percent-escape" 400 'GET /a%zz.txt HTTP/1.1\r\nHost: x\r\n\r\n'
	raw_code "Content-Length not a number" 400 'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'
	raw_code "two Host fields" 400 'GET /a.txt HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n'
	raw_code "Content-Length fields that disagree" 400 \
		'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'
	raw_code "obsolete line folding" 400 'GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n'

	# 414: a 5000-byte request line (limit 4096).
	big=$(printf 'a%.0s' $(seq 1 5000))
	raw_code "5000-byte request line" 414 "GET /$big HTTP/1.1\r\nHost: x\r\n\r\n"
	c=$(get "/$big")
	is "$c" 414 "5000-byte path via curl -> 414"

	# 431: a head over 8192 bytes, first with few long lines, then many short.
	pad=$(printf 'b%.0s' $(seq 1 3000))
	raw_code "3 x 3000-byte headers (head > 8192)" 431 \
		"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: $pad\r\nX-B: $pad\r\nX-C: $pad\r\n\r\n"
	pad=''
	for i in $(seq 1 100); do pad="${pad}X-Pad-$i: $(printf 'c%.0s' $(seq 1 90))\r\n"; done
	raw_code "100 x 100-byte headers" 431 "GET /a.txt HTTP/1.1\r\nHost: x\r\n$pad\r\n"
	raw_code "80 tiny headers (more than the parser holds)" 431 \
		"GET /a.txt HTTP/1.1\r\nHost: x\r\n$(for i in $(seq 1 80); do printf 'X%d: 1\\r\\n' "$i"; done)\r\n"

	# 413: a declared body over 64 KiB, decided from the head alone.
	raw_code "GET with Content-Length: 65537" 413 \
		'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n'
	raw_code "GET with Content-Length: 10000000000" 413 \
		'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n'
	# A small body is read and skipped: the next pipelined request is intact.
	raw --settle 0.1 --linger 0.3 'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /1k.txt HTTP/1.1\r\nHost: x\r\n\r\n'
	ok "$([ "$(r_codes)" = "200 200" ] && [ "$(r_bodysha 2)" = "$(sha "$ROOT/1k.txt")" ]; echo $?)" \
		"GET with a 5-byte body, then a pipelined GET -> 200 200" "$(r_diag)"

	# Error answers to HEAD carry no body.
	raw --settle 0.1 --linger 0.3 'HEAD /nope.txt HTTP/1.1\r\nHost: x\r\n\r\n'
	ok "$([ "$(r_status 1)" = 404 ] && grep -q '^EXTRA 0$' "$RAW"; echo $?)" "HEAD of a missing file -> 404, no body" "$(r_diag)"

	# Traversal over a raw socket.
	attack "/../etc/passwd" 'GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/../../../../../../etc/passwd" 'GET /../../../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/sub/../../etc/passwd" 'GET /sub/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/%2e%2e/etc/passwd" 'GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/%2e%2E/%2E%2e/etc/passwd" 'GET /%2e%2E/%2E%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/.%2e/etc/passwd" 'GET /.%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/..%2fetc%2fpasswd" 'GET /..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/..%2F..%2F..%2Fetc%2Fpasswd" 'GET /..%2F..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/%2e%2e%2f%2e%2e%2fetc%2fpasswd" 'GET /%2e%2e%2f%2e%2e%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/sub/..%5c..%5cetc/passwd" 'GET /sub/..%5c..%5cetc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "backslash /..\\..\\etc\\passwd" 'GET /..\\..\\etc\\passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/a.txt%00.html" 'GET /a.txt%00.html HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/../etc/passwd%00.txt" 'GET /../etc/passwd%00.txt HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "//etc/passwd" 'GET //etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "///etc/passwd" 'GET ///etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "%2fetc%2fpasswd" 'GET /%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "absolute-form http://x/../etc/passwd" 'GET http://127.0.0.1/../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "absolute-form http://x/%2e%2e/etc/passwd" 'GET http://127.0.0.1/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "HTTP/1.0 /../etc/passwd" 'GET /../etc/passwd HTTP/1.0\r\n\r\n'
	attack "HEAD /../etc/passwd" 'HEAD /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/linkroot/etc/passwd" 'GET /linkroot/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/link-out" 'GET /link-out HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/sub/..%2f..%2flink-out" 'GET /sub/..%2f..%2flink-out HTTP/1.1\r\nHost: x\r\n\r\n'
	attack "/%c0%ae%c0%ae/etc/passwd (overlong UTF-8)" 'GET /%c0%ae%c0%ae/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
	for p in /../etc/passwd /sub/../../etc/passwd /%2e%2e/etc/passwd /..%2fetc/passwd /a.txt%00; do
		c=$(get "$p" --path-as-is)
		ok "$( [[ $c =~ ^40[034]$ ]] && ! grep -Eq "$PASSWD_RE" "$BODY"; echo $?)" \
			"curl --path-as-is $p -> 400/403/404" "code $c"
	done

	c=$(get /fifo --max-time 3)
	is "$c" 403 "a FIFO in the root -> 403 without blocking"
	if [ -e "$ROOT/zero" ]; then
		c=$(get /zero --max-time 3)
		is "$c" 403 "a device node in the root -> 403"
	else
		skip "a device node in the root -> 403" "mknod needs root"
	fi

	c=$(get /a.txt)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/a.txt"; echo $?)" "server still serves after all the bad requests" "code $c"
}

# With a longer line limit, a decoded path longer than a helper message can
# carry (4096 bytes) is still a 414, never a truncated path that names
# another file: /sub/sub/.../a.txt shortened could be /sub/sub/ or worse.
longpath() {
	local big
	big=$(printf 'sub/%.0s' $(seq 1 1100))
	raw_code "4400-byte path, line limit 8192" 414 "GET /${big}a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
	big=$(printf 'x%.0s' $(seq 1 4150))
	raw_code "4150-byte single name (fits the parser, not a helper message), line limit 8192" 414 "GET /$big HTTP/1.1\r\nHost: x\r\n\r\n"
	raw_code "short path still served" 200 'GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
}

variants errs
variants longpath --max-line-bytes 8192 --max-header-bytes 16384
done_testing
