#!/bin/bash
# HTTP basics over loopback with curl and a raw socket, for every build x
# model: GET/HEAD, the standard headers, Content-Type by extension, the
# directory rules (index, 403 without one, 301 without the slash), percent-
# decoding, query strings ignored, symlinks inside the root, 404, the
# request forms curl never sends (HTTP/1.0 without Host, absolute-form,
# bare LF, byte by byte), and an IPv6 listener.
. "$(dirname "$0")/lib.sh"

make_docroot "$ROOT"
IMF='^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$'

basic() {
	local c etag d now diff f ct

	c=$(get /)
	is "$c" 200 "GET / -> 200"
	ok "$(fcmp "$BODY" "$ROOT/index.html"; echo $?)" "GET / serves index.html"
	like "$(hdr Content-Type)" '^text/html' "GET / Content-Type text/html"

	c=$(get /a.txt)
	is "$c" 200 "GET /a.txt -> 200"
	ok "$(fcmp "$BODY" "$ROOT/a.txt"; echo $?)" "GET /a.txt body"
	is "$(hdr Content-Length)" 12 "GET /a.txt Content-Length"
	like "$(hdr Content-Type)" '^text/plain' "GET /a.txt Content-Type text/plain"
	is "$(hdr Last-Modified)" "$FIX_LASTMOD" "Last-Modified is the file mtime"
	etag=$(hdr ETag)
	like "$etag" '^"[^"]+"$' "ETag is strong and quoted"
	is "$(hdr Accept-Ranges)" bytes "Accept-Ranges: bytes"
	like "$(hdr Server)" '^amped' "Server: amped"
	d=$(hdr Date)
	like "$d" "$IMF" "Date is an IMF-fixdate"
	now=$(date +%s)
	diff=$(( $(date -d "$d" +%s 2>/dev/null || echo 0) - now ))
	ok "$([ "${diff#-}" -le 5 ]; echo $?)" "Date is now (+-5 s)" "Date: $d"

	c=$(head_req /a.txt)
	is "$c" 200 "HEAD /a.txt -> 200"
	is "$(hdr Content-Length)" 12 "HEAD Content-Length is the file size"
	is "$(hdr ETag)" "$etag" "HEAD ETag equals GET ETag"
	raw --linger 2 'HEAD /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
	ok "$([ "$(r_status 1)" = 200 ] && grep -q '^EXTRA 0$' "$RAW" && [ "$(r_end)" = CLOSED ]; echo $?)" \
		"HEAD sends no body (raw socket)" "$(r_diag)"
	ok "$(grep -q '^H 1 content-length: 12$' "$RAW"; echo $?)" "HEAD raw: Content-Length 12"

	c=$(get /1k.txt)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/1k.txt"; echo $?)" "GET /1k.txt intact"
	is "$(hdr Content-Length)" 1024 "1 KiB file Content-Length"
	c=$(get /rand.bin)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/rand.bin"; echo $?)" "GET /rand.bin (100 KB binary) intact"
	is "$(hdr Content-Length)" 100000 "100 KB file Content-Length"

	for f in style.css:text/css data.json:application/json app.js:javascript \
		img.gif:image/gif img.png:image/png img.jpg:image/jpeg \
		data.zzqx:application/octet-stream README:application/octet-stream \
		rand.bin:application/octet-stream; do
		ct=${f#*:}
		f=${f%%:*}
		c=$(get "/$f")
		ok "$([ "$c" = 200 ] && hdr Content-Type | grep -q "$ct"; echo $?)" \
			"Content-Type of $f contains $ct" "code $c, Content-Type: $(hdr Content-Type)"
	done

	# Directories.
	c=$(get /sub/)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/sub/index.html"; echo $?)" "GET /sub/ serves sub/index.html" "code $c"
	c=$(get /sub)
	is "$c" 301 "GET /sub -> 301"
	like "$(hdr Location)" '(^|://[^/]*)/sub/$' "301 Location: /sub/"
	c=$(get /nodir/)
	is "$c" 403 "directory without index.html -> 403 (no listing)"
	unlike "$(cat "$BODY")" 'x\.txt' "403 body does not list the directory"
	c=$(get /nodir)
	is "$c" 301 "GET /nodir -> 301"
	like "$(hdr Location)" '(^|://[^/]*)/nodir/$' "301 Location: /nodir/"
	c=$(get /nodir/x.txt)
	is "$c" 200 "file inside an index-less directory -> 200"
	c=$(get /deep/a/b/c.txt)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/deep/a/b/c.txt"; echo $?)" "nested path /deep/a/b/c.txt"
	c=$(get /deep/a)
	is "$c" 301 "nested directory without slash -> 301"
	like "$(hdr Location)" '(^|://[^/]*)/deep/a/$' "nested 301 Location: /deep/a/"

	# Percent-decoding and the query string.
	c=$(get /with%20space.txt)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/with space.txt"; echo $?)" "percent-decoded space" "code $c"
	c=$(get /pct%25file.txt)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/pct%file.txt"; echo $?)" "percent-decoded %25" "code $c"
	c=$(get /%C3%A9.txt)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/$(printf '\xc3\xa9').txt"; echo $?)" "percent-decoded UTF-8 name" "code $c"
	c=$(get /%61.txt)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/a.txt"; echo $?)" "percent-encoded unreserved char (%61 = a)" "code $c"
	c=$(get '/a.txt?x=1&y=2')
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/a.txt"; echo $?)" "query string ignored" "code $c"
	c=$(get '/a.txt?../../etc/passwd')
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/a.txt"; echo $?)" "query string with .. ignored" "code $c"
	c=$(get '/sub/?q=1')
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/sub/index.html"; echo $?)" "query on a directory" "code $c"
	c=$(get '/q.txt?')
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/q.txt"; echo $?)" "empty query" "code $c"

	# Symlinks.
	c=$(get /link-in.txt)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/a.txt"; echo $?)" "symlink inside the root is served" "code $c"
	c=$(get /linkdir/)
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/sub/index.html"; echo $?)" "symlinked directory inside the root" "code $c"
	c=$(get /linkdir/f.txt)
	is "$c" 200 "file via a symlinked directory"
	for f in /link-out /link-out-rel /linkroot/etc/passwd; do
		c=$(get "$f")
		ok "$( [[ $c =~ ^40[34]$ ]] && ! grep -q 'root:' "$BODY"; echo $?)" \
			"symlink leaving the root refused: $f -> 403/404" "code $c"
	done
	if [ "$(id -u)" -eq 0 ]; then
		skip "unreadable file -> 403" "running as root, mode 000 is readable"
	else
		c=$(get /unreadable.txt)
		is "$c" 403 "unreadable file -> 403"
	fi

	# 404 and the error body.
	c=$(get /nope.txt)
	is "$c" 404 "missing file -> 404"
	like "$(hdr Content-Type)" '^text/html' "404 body is text/html"
	ok "$([ -s "$BODY" ] && [ "$(stat -c %s "$BODY")" -lt 4096 ]; echo $?)" "404 has a small body"
	is "$(hdr Content-Length)" "$(stat -c %s "$BODY")" "404 Content-Length matches its body"
	c=$(get /sub/nope/deeper.txt)
	is "$c" 404 "missing nested path -> 404"

	# Request forms curl does not send.
	raw 'GET /a.txt HTTP/1.0\r\n\r\n'
	ok "$([ "$(r_status 1)" = 200 ] && [ "$(r_bodysha 1)" = "$(sha "$ROOT/a.txt")" ]; echo $?)" \
		"HTTP/1.0 without Host -> 200" "$(r_diag)"
	raw --settle 0.1 --linger 0.3 'GET http://127.0.0.1/a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
	ok "$([ "$(r_status 1)" = 200 ] && [ "$(r_bodysha 1)" = "$(sha "$ROOT/a.txt")" ]; echo $?)" \
		"absolute-form request-target -> 200" "$(r_diag)"
	raw --settle 0.1 --linger 0.3 'GET /a.txt HTTP/1.1\nhost: x\n\n'
	ok "$([ "$(r_status 1)" = 200 ] && [ "$(r_bodysha 1)" = "$(sha "$ROOT/a.txt")" ]; echo $?)" \
		"bare-LF line ends and lower-case header name -> 200" "$(r_diag)"
	raw --settle 0.1 --linger 0.3 --bytewise 1 'GET /1k.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: bytewise\r\n\r\n'
	ok "$([ "$(r_status 1)" = 200 ] && [ "$(r_bodysha 1)" = "$(sha "$ROOT/1k.txt")" ]; echo $?)" \
		"request fed byte by byte -> 200" "$(r_diag)"
}

variants basic

# IPv6 listener.
if ip -6 addr show lo 2>/dev/null | grep -q '::1'; then
	for b in "${BINS[@]}"; do
		for m in "${MODELS[@]}"; do
			V="[$b $m ::1] "
			if srv_start "$b" "$m" --addr ::1; then
				like "$SRV_URL" '^http://\[::1\]:[0-9]+$' "IPv6 URL printed as http://[::1]:PORT/"
				c=$(get /a.txt -g)
				ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/a.txt"; echo $?)" "GET over IPv6" "code $c"
				srv_stop TERM
			else
				ok 1 "server starts on ::1"
			fi
		done
	done
	V=''
else
	skip "IPv6 listener" "no ::1 on lo"
fi

done_testing
