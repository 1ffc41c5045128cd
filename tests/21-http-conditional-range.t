#!/bin/bash
# Conditional and partial GETs, for every build x model: If-None-Match (tag,
# list, "*", W/), If-Modified-Since (same, newer, older, garbage),
# If-None-Match winning over If-Modified-Since (RFC 9110 §13.1.3), single
# ranges (first-last, suffix, open-ended, clipped, exact Content-Range and
# bytes), unsatisfiable -> 416 with "bytes */SIZE", malformed ranges ->
# 200 full, If-Range by ETag and by date.  Several ranges, If-Match and
# If-Unmodified-Since: tests/27-http-gaps.t.
. "$(dirname "$0")/lib.sh"

make_docroot "$ROOT"
RB=$ROOT/rand.bin	# 100000 bytes
OLD='Mon, 01 Jan 2001 00:00:00 GMT'
NEWER='Fri, 01 Jan 2038 00:00:00 GMT'

# slice FIRST LAST: bytes FIRST..LAST (inclusive) of rand.bin to $T/want.
slice() { tail -c +$(($1 + 1)) "$RB" | head -c $(($2 - $1 + 1)) >"$T/want"; }

# range_ok SPEC FIRST LAST: GET rand.bin with Range: SPEC is a 206 for
# exactly FIRST..LAST.
range_ok() {
	local c
	c=$(get /rand.bin -H "Range: $1")
	is "$c" 206 "Range: $1 -> 206"
	is "$(hdr Content-Range)" "bytes $2-$3/100000" "Range: $1 Content-Range"
	is "$(hdr Content-Length)" $(($3 - $2 + 1)) "Range: $1 Content-Length"
	slice "$2" "$3"
	ok "$(fcmp "$BODY" "$T/want"; echo $?)" "Range: $1 body is bytes $2-$3"
}

# full_ok DESC curl-args...: a 200 with the whole rand.bin.
full_ok() {
	local d=$1 c
	shift
	c=$(get /rand.bin "$@")
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$RB" && [ "$(hdr Content-Length)" = 100000 ] && ! has_hdr Content-Range; echo $?)" \
		"$d -> 200 full body, no Content-Range" "code $c, Content-Range: $(hdr Content-Range)"
}

cond() {
	local c etag e2 lm

	c=$(get /a.txt)
	etag=$(hdr ETag)
	lm=$(hdr Last-Modified)
	is "$c" 200 "GET /a.txt -> 200 (ETag $etag)"

	# If-None-Match.
	c=$(get /a.txt -H "If-None-Match: $etag")
	is "$c" 304 "If-None-Match: matching tag -> 304"
	is "$(stat -c %s "$BODY")" 0 "304 has no body"
	is "$(hdr ETag)" "$etag" "304 carries the ETag"
	c=$(get /a.txt -H 'If-None-Match: *')
	is "$c" 304 "If-None-Match: * -> 304"
	c=$(get /a.txt -H "If-None-Match: \"nope\", $etag")
	is "$c" 304 "If-None-Match: list containing the tag -> 304"
	c=$(get /a.txt -H "If-None-Match: W/$etag")
	is "$c" 304 "If-None-Match: weak form of the tag -> 304 (weak comparison)"
	c=$(get /a.txt -H 'If-None-Match: "nope"')
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/a.txt"; echo $?)" "If-None-Match: other tag -> 200 full" "code $c"
	raw --linger 0.3 "HEAD /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: $etag\r\n\r\n"
	ok "$([ "$(r_status 1)" = 304 ] && grep -q '^EXTRA 0$' "$RAW"; echo $?)" "HEAD with If-None-Match -> 304, no body" "$(r_diag)"
	raw --linger 0.3 "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: $etag\r\n\r\n"
	ok "$([ "$(r_status 1)" = 304 ] && grep -q '^EXTRA 0$' "$RAW" && [ "$(r_end)" = OPEN ]; echo $?)" \
		"raw 304 sends no body bytes and keeps the connection" "$(r_diag)"
	c=$(get /1k.txt -H "If-None-Match: $etag")
	e2=$(hdr ETag)
	ok "$([ "$c" = 200 ] && [ "$e2" != "$etag" ]; echo $?)" "another file has another ETag and ignores this one" "code $c, $e2 vs $etag"

	# If-Modified-Since.
	c=$(get /a.txt -H "If-Modified-Since: $lm")
	is "$c" 304 "If-Modified-Since: Last-Modified -> 304"
	c=$(get /a.txt -H "If-Modified-Since: $NEWER")
	is "$c" 304 "If-Modified-Since: a later date -> 304"
	c=$(get /a.txt -H "If-Modified-Since: $OLD")
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$ROOT/a.txt"; echo $?)" "If-Modified-Since: an older date -> 200 full" "code $c"
	c=$(get /a.txt -H 'If-Modified-Since: not a date')
	is "$c" 200 "If-Modified-Since: garbage is ignored -> 200"
	c=$(get /a.txt -H 'If-Modified-Since: Thursday, 02-Jan-20 03:04:05 GMT')
	is "$c" 304 "If-Modified-Since in RFC 850 form -> 304"
	c=$(get /a.txt -H 'If-Modified-Since: Thu Jan  2 03:04:05 2020')
	is "$c" 304 "If-Modified-Since in asctime form -> 304"
	c=$(get /a.txt -H 'If-None-Match: "nope"' -H "If-Modified-Since: $lm")
	is "$c" 200 "If-None-Match (no match) overrides If-Modified-Since -> 200"

	# Ranges on the 100000-byte file.
	range_ok bytes=0-9 0 9
	range_ok bytes=100-199 100 199
	range_ok bytes=0-0 0 0
	range_ok bytes=-100 99900 99999
	range_ok bytes=99990- 99990 99999
	range_ok bytes=0- 0 99999
	range_ok bytes=99990-200000 99990 99999
	range_ok bytes=-200000 0 99999
	range_ok bytes=99999-99999 99999 99999
	c=$(head_req /rand.bin -H 'Range: bytes=10-19')
	ok "$([ "$c" = 206 ] && [ "$(hdr Content-Range)" = "bytes 10-19/100000" ]; echo $?)" \
		"HEAD with Range -> 206 and Content-Range" "code $c, $(hdr Content-Range)"

	range_ok "bytes=99990-99999999999999999999999" 99990 99999
	# 206 header with every field long: the header buffer must hold it.
	c=$(get /rand.bin -H 'Range: bytes=18446744073709551614-18446744073709551615')
	is "$c" 416 "Range past 2^63 -> 416"
	c=$(get /rand.bin -H 'Range: bytes=0-0, ,')
	ok "$([ "$c" = 206 ] && [ "$(hdr Content-Range)" = "bytes 0-0/100000" ]; echo $?)" \
		"Range with empty list elements bytes=0-0, , -> 206" "code $c, $(hdr Content-Range)"
	c=$(get /rand.bin -H 'Range: bytes=100000-')
	is "$c" 416 "Range starting at the size -> 416"
	is "$(hdr Content-Range)" 'bytes */100000' "416 Content-Range: bytes */100000"
	c=$(get /rand.bin -H 'Range: bytes=200000-300000')
	is "$c" 416 "Range beyond the end -> 416"
	is "$(hdr Content-Range)" 'bytes */100000' "416 Content-Range again"
	c=$(get /a.txt -H 'Range: bytes=-0')
	is "$c" 416 "suffix range of 0 bytes -> 416"
	raw --linger 0.3 'GET /rand.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100000-\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
	ok "$([ "$(r_codes)" = "416 200" ] && [ "$(r_bodysha 2)" = "$(sha "$ROOT/a.txt")" ]; echo $?)" \
		"416 keeps the connection usable (pipelined 416 then 200)" "$(r_diag)"

	# (several ranges: tests/27-http-gaps.t)
	full_ok "malformed range bytes=abc" -H 'Range: bytes=abc'
	full_ok "other unit items=0-5" -H 'Range: items=0-5'
	full_ok "reversed range bytes=9-5" -H 'Range: bytes=9-5'

	# If-Range on rand.bin.
	c=$(get /rand.bin)
	etag=$(hdr ETag)
	lm=$(hdr Last-Modified)
	c=$(get /rand.bin -H 'Range: bytes=0-9' -H "If-Range: $etag")
	ok "$([ "$c" = 206 ] && [ "$(hdr Content-Range)" = "bytes 0-9/100000" ]; echo $?)" \
		"If-Range: matching ETag -> 206" "code $c"
	full_ok "If-Range: other ETag" -H 'Range: bytes=0-9' -H 'If-Range: "other"'
	c=$(get /rand.bin -H 'Range: bytes=0-9' -H "If-Range: $lm")
	ok "$([ "$c" = 206 ] && [ "$(hdr Content-Range)" = "bytes 0-9/100000" ]; echo $?)" \
		"If-Range: Last-Modified date -> 206" "code $c"
	full_ok "If-Range: other date" -H 'Range: bytes=0-9' -H "If-Range: $OLD"
	full_ok "If-Range: weak ETag (needs strong comparison)" -H 'Range: bytes=0-9' -H "If-Range: W/$etag"
}

variants cond
done_testing
