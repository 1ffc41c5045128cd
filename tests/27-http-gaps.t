#!/bin/bash
# The HTTP gaps found by sending the same raw requests to amped, nginx and
# lighttpd (issue 12), for every build x model:
#   - If-Match / If-Unmodified-Since that fail -> 412, in RFC 9110 §13.2.2's
#     order with If-None-Match, If-Modified-Since and If-Range;
#   - several ranges -> 206 multipart/byteranges, each part's bytes compared
#     with the file by tests/helpers/multipart.py on what curl received and
#     on what the raw client received (then a pipelined request after it,
#     so the Content-Length must be exact); small files (from memory),
#     large ones (sendfile), parts over 1 MiB from a file dropped from the
#     page cache (the blocking-work path sees every part); the policy:
#     coalescing, order kept, at most 16 range-specs, unsatisfiable ones
#     dropped, HEAD;
#   - a chunked body on GET/HEAD read and dropped: whole, byte by byte,
#     across reads, with extensions and trailers, and the next pipelined
#     request served; over the limit -> 413, malformed framing -> 400, both
#     closing; framing that cannot be trusted (with Content-Length, in
#     HTTP/1.0, chunked not last) -> 400, another coding -> 501.
. "$(dirname "$0")/lib.sh"

make_docroot "$ROOT"
RB=$ROOT/rand.bin	# 100000 bytes
BIG=$ROOT/big.bin	# 3 MiB: parts longer than a sendfile chunk
head -c $((3 << 20)) /dev/urandom >"$BIG"
touch -d "$FIX_MTIME" "$BIG"
OLD='Mon, 01 Jan 2001 00:00:00 GMT'
NEWER='Fri, 01 Jan 2038 00:00:00 GMT'
MP=tests/helpers/multipart.py
A=$(sha "$ROOT/a.txt")
NEXT='GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n'

# drop_cache FILE: evict FILE's pages so the next read goes to the disk.
drop_cache() {
	"$PY" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.fsync(fd)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"
}

# code_is DESC WANT curl-args...: GET /a.txt with the args answers WANT.
code_is() {
	local d=$1 want=$2 c
	shift 2
	c=$(get /a.txt "$@")
	is "$c" "$want" "$d -> $want"
}

preconditions() {
	local c etag lm

	c=$(get /a.txt)
	etag=$(hdr ETag)
	lm=$(hdr Last-Modified)

	# If-Match (strong comparison)
	c=$(get /a.txt -H 'If-Match: "nope"')
	ok "$([ "$c" = 412 ] && grep -q '412 Precondition Failed' "$BODY"; echo $?)" \
		"If-Match: other tag -> 412 with a body saying so" "code $c"
	code_is "If-Match: the ETag" 200 -H "If-Match: $etag"
	code_is "If-Match: *" 200 -H 'If-Match: *'
	code_is "If-Match: a list holding the ETag" 200 -H "If-Match: \"x\", $etag"
	code_is "If-Match: the weak form (strong comparison)" 412 -H "If-Match: W/$etag"
	code_is "If-Match: malformed" 412 -H 'If-Match: nope'
	raw --settle 0.1 --linger 0.3 "HEAD /a.txt HTTP/1.1\r\nHost: x\r\nIf-Match: \"nope\"\r\n\r\n"
	ok "$([ "$(r_codes)" = 412 ] && grep -q '^EXTRA 0$' "$RAW"; echo $?)" \
		"HEAD with a failing If-Match -> 412, no body" "$(r_diag)"

	# If-Unmodified-Since
	code_is "If-Unmodified-Since: an older date" 412 -H "If-Unmodified-Since: $OLD"
	code_is "If-Unmodified-Since: Last-Modified" 200 -H "If-Unmodified-Since: $lm"
	code_is "If-Unmodified-Since: a later date" 200 -H "If-Unmodified-Since: $NEWER"
	code_is "If-Unmodified-Since: not a date (ignored)" 200 -H 'If-Unmodified-Since: yesterday'

	# RFC 9110 §13.2.2's order
	code_is "If-Match passes: If-Unmodified-Since is not looked at" 200 \
		-H "If-Match: $etag" -H "If-Unmodified-Since: $OLD"
	code_is "If-Match fails before If-None-Match matches" 412 \
		-H 'If-Match: "nope"' -H "If-None-Match: $etag"
	code_is "If-Unmodified-Since fails before If-Modified-Since" 412 \
		-H "If-Unmodified-Since: $OLD" -H "If-Modified-Since: $NEWER"
	code_is "If-Match passes, If-None-Match matches -> 304" 304 \
		-H "If-Match: $etag" -H "If-None-Match: $etag"
	code_is "If-Unmodified-Since passes, If-Modified-Since -> 304" 304 \
		-H "If-Unmodified-Since: $NEWER" -H "If-Modified-Since: $lm"
	c=$(get /rand.bin -H 'If-Match: "nope"' -H 'Range: bytes=0-9')
	is "$c" 412 "a failing If-Match wins over Range -> 412, not 206"
	c=$(get /rand.bin -H "If-Unmodified-Since: $NEWER" -H 'Range: bytes=0-9')
	ok "$([ "$c" = 206 ] && [ "$(hdr Content-Range)" = 'bytes 0-9/100000' ]; echo $?)" \
		"a passing If-Unmodified-Since keeps the Range -> 206" "code $c"
	c=$(get /rand.bin)
	etag=$(hdr ETag)
	c=$(get /rand.bin -H "If-None-Match: $etag" -H 'If-Range: "other"' -H 'Range: bytes=0-9')
	is "$c" 304 "If-None-Match matches before If-Range is looked at -> 304"
	c=$(get /rand.bin -H "If-Match: $etag" -H 'If-Range: "other"' -H 'Range: bytes=0-9')
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$RB"; echo $?)" \
		"If-Match passes, If-Range fails -> 200 full" "code $c"

	# 412 keeps the connection: the request was whole and well-formed.
	raw --settle 0.1 --linger 0.3 "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Match: \"nope\"\r\n\r\n$NEXT"
	ok "$([ "$(r_codes)" = "412 200" ] && [ "$(r_bodysha 2)" = "$A" ] && [ "$(r_end)" = OPEN ]; echo $?)" \
		"pipelined 412 then 200, connection kept" "$(r_diag)"
}

# mp_curl DESC FILE RANGE WANT [curl args]: GET FILE with Range: RANGE by
# curl is a 206 multipart whose parts (checked by multipart.py) are WANT.
mp_curl() {
	local d=$1 f=$2 range=$3 want=$4 c out
	shift 4
	c=$(get "/$f" -H "Range: $range" "$@")
	out=$("$PY" "$MP" "$ROOT/$f" "$BODY" "$(hdr Content-Type)" "$want" 2>&1)
	ok "$([ "$c" = 206 ] && [ "$(hdr Content-Length)" = "$(stat -c %s "$BODY")" ] &&
		! has_hdr Content-Range && [ -z "${out##*PARTS*}" ] && ! grep -q FAIL <<<"$out"; echo $?)" \
		"curl: $d ($range) -> 206 multipart, parts $want match the file" \
		"code $c, Content-Length $(hdr Content-Length), body $(stat -c %s "$BODY"); $out"
}

# mp_raw DESC FILE RANGE WANT: the same through the raw client, with a
# request pipelined behind it (a wrong Content-Length would garble it).
mp_raw() {
	local d=$1 f=$2 range=$3 want=$4 out
	rm -rf "$T/bodies" && mkdir -p "$T/bodies"
	raw --settle 0.1 --linger 0.5 --timeout 20 --bodies "$T/bodies" \
		"GET /$f HTTP/1.1\r\nHost: x\r\nRange: $range\r\n\r\n$NEXT"
	out=$("$PY" "$MP" "$ROOT/$f" "$T/bodies/body.1" "$(r_hdr 1 Content-Type)" "$want" 2>&1)
	ok "$([ "$(r_codes)" = "206 200" ] && [ "$(r_bodysha 2)" = "$A" ] &&
		! grep -q FAIL <<<"$out" && [ "$(grep -c '^EXTRA 0$' "$RAW")" = 1 ]; echo $?)" \
		"raw: $d ($range) -> 206 multipart then the pipelined 200; parts $want match" \
		"$out; $(r_diag)"
}

# one_part DESC RANGE FIRST-LAST: rand.bin with Range: RANGE is a plain 206
# for FIRST-LAST.
one_part() {
	local c
	c=$(get /rand.bin -H "Range: $2")
	ok "$([ "$c" = 206 ] && [ "$(hdr Content-Range)" = "bytes $3/100000" ] &&
		[ "$(hdr Content-Type)" = application/octet-stream ]; echo $?)" \
		"$1 ($2) -> one plain 206 for bytes $3" "code $c, $(hdr Content-Range)"
}

ranges() {
	local c etag i spec want n

	mp_curl "two far ranges" rand.bin 'bytes=0-99,50000-50099' 0-99,50000-50099
	mp_raw "two far ranges" rand.bin 'bytes=0-99,50000-50099' 0-99,50000-50099
	mp_curl "order of the request kept, suffix range" rand.bin 'bytes=50000-50099,-100,0-0' \
		50000-50099,99900-99999,0-0
	mp_raw "order kept, suffix" rand.bin 'bytes=50000-50099,-100,0-0' 50000-50099,99900-99999,0-0
	mp_curl "a small file, served from memory" 1k.txt 'bytes=0-9,500-509,-5' 0-9,500-509,1019-1023
	mp_raw "a small file" 1k.txt 'bytes=0-9,500-509,-5' 0-9,500-509,1019-1023
	mp_curl "overlapping ranges coalesce, far ones stay apart" rand.bin \
		'bytes=1000-1999,1500-2500,0-9,90000-' 1000-2500,0-9,90000-99999
	mp_curl "parts over 1 MiB (sendfile in chunks)" big.bin \
		"bytes=0-1199999,2000000-3145727" 0-1199999,2000000-3145727
	drop_cache "$BIG"
	mp_raw "parts over 1 MiB from a file out of the page cache" big.bin \
		"bytes=100-1300000,2500000-2500099,-1000" 100-1300000,2500000-2500099,3144728-3145727
	drop_cache "$BIG"
	mp_curl "cold file again, many parts" big.bin \
		"bytes=0-0,1048576-1048576,2097152-2097152,3145727-3145727" \
		0-0,1048576-1048576,2097152-2097152,3145727-3145727

	# at most HP_MAX_RANGES (16) range-specs
	want=
	for i in $(seq 0 15); do
		want="$want${want:+,}$((i * 1000))-$((i * 1000 + 9))"
	done
	spec=bytes=$want
	mp_curl "16 ranges, the most allowed" rand.bin "$spec" "$want"
	c=$(get /rand.bin -H "Range: $spec,60000-60009")
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$RB" && ! has_hdr Content-Range; echo $?)" \
		"17 ranges -> the Range is ignored: 200 full" "code $c"

	# what is left as one range gets a plain 206
	one_part "overlapping ranges" 'bytes=0-10,5-15' 0-15
	one_part "ranges closer than a part header" 'bytes=0-1,5-6' 0-6
	one_part "three copies of one range" 'bytes=0-60000,0-60000,0-60000' 0-60000
	one_part "an unsatisfiable range dropped" 'bytes=10-19,200000-300000' 10-19
	c=$(get /rand.bin -H 'Range: bytes=200000-,300000-')
	ok "$([ "$c" = 416 ] && [ "$(hdr Content-Range)" = 'bytes */100000' ]; echo $?)" \
		"no satisfiable range -> 416" "code $c"
	c=$(get /rand.bin -H 'Range: bytes=0-1,9-5')
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$RB"; echo $?)" "an invalid spec in the list -> 200 full" "code $c"

	# HEAD: the GET's header, no body
	c=$(get /rand.bin -H 'Range: bytes=0-99,50000-50099')
	n=$(hdr Content-Length)
	raw --settle 0.1 --linger 0.3 "HEAD /rand.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99,50000-50099\r\n\r\n$NEXT"
	ok "$([ "$(r_codes)" = "206 200" ] && [ "$(r_hdr 1 Content-Length)" = "$n" ] &&
		[ "$(r_bodylen 1)" = 0 ] && [ "$(r_bodysha 2)" = "$A" ] &&
		[ -z "$(r_hdr 1 Content-Type | sed 's/^multipart\/byteranges; boundary=.*//')" ]; echo $?)" \
		"HEAD with two ranges -> 206 multipart, the GET's Content-Length $n, no body" "$(r_diag)"

	# If-Range decides between the parts and the whole
	c=$(get /rand.bin)
	etag=$(hdr ETag)
	mp_curl "If-Range: the ETag" rand.bin 'bytes=0-99,50000-50099' 0-99,50000-50099 -H "If-Range: $etag"
	c=$(get /rand.bin -H 'Range: bytes=0-99,50000-50099' -H 'If-Range: "other"')
	ok "$([ "$c" = 200 ] && fcmp "$BODY" "$RB"; echo $?)" "If-Range: another tag -> 200 full" "code $c"
}

# chunked_ok DESC [rawhttp opts] STEP...: the first response is a 200 with
# a.txt, the second (the pipelined one) too, the connection stays open.
chunked_ok() {
	local d=$1
	shift
	raw --settle 0.1 --linger 0.3 "$@"
	ok "$([ "$(r_codes)" = "200 200" ] && [ "$(r_bodysha 1)" = "$A" ] &&
		[ "$(r_bodysha 2)" = "$A" ] && [ "$(r_end)" = OPEN ]; echo $?)" \
		"chunked body: $d -> 200, then the pipelined request 200" "$(r_diag)"
}

# chunked_err DESC CODE STEP: answered CODE, then the connection closes.
chunked_err() {
	local d=$1 code=$2
	shift 2
	raw --linger 1 "$@"
	ok "$([ "$(r_codes)" = "$code" ] && [ "$(r_end)" = CLOSED ]; echo $?)" \
		"chunked body: $d -> $code and close" "$(r_diag)"
}

chunked() {
	local H='GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' big

	chunked_ok "whole" "${H}5\r\nhello\r\n0\r\n\r\n$NEXT"
	chunked_ok "byte by byte" --bytewise 1 "${H}5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n$NEXT"
	chunked_ok "extensions and trailers" \
		"${H}5;name=\"v a l\";x\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\nY: \r\n\r\n$NEXT"
	chunked_ok "empty (last-chunk only)" "${H}0\r\n\r\n$NEXT"
	raw --settle 0.1 --linger 0.3 'HEAD /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'"$NEXT"
	ok "$([ "$(r_codes)" = "200 200" ] && [ "$(r_bodylen 1)" = 0 ] && [ "$(r_bodysha 2)" = "$A" ]; echo $?)" \
		"HEAD with a chunked body: no body in the answer, the next request served" "$(r_diag)"
	# 60 KiB in 4 KiB chunks, sent after the answer to the head has come:
	# the body is dropped as it arrives, then the pipelined GET is served.
	big=$T/chunks.bin
	"$PY" -c 'import sys
sys.stdout.buffer.write((b"1000\r\n" + b"x" * 4096 + b"\r\n") * 15 + b"0\r\n\r\n")' >"$big"
	raw --settle 0.1 --linger 0.3 "$H" "@$big" "$NEXT"
	ok "$([ "$(r_codes)" = "200 200" ] && [ "$(r_bodysha 2)" = "$A" ] && [ "$(r_end)" = OPEN ]; echo $?)" \
		"chunked body of 60 KiB sent after the answer: dropped, next request served" "$(r_diag)"
	chunked_ok "body and next request split across reads" \
		--gap 0.05 "${H}5\r\nhel" "lo\r\n0\r" "\n\r\n$NEXT"

	# over the limit (--max-body-bytes, 65536 here): a 413, at once
	chunked_err "a chunk of 64 KiB" 413 "${H}10000\r\n"
	chunked_err "a 20-digit chunk size" 413 "${H}ffffffffffffffffffff\r\n"
	"$PY" -c 'import sys
sys.stdout.buffer.write((b"1000\r\n" + b"x" * 4096 + b"\r\n") * 17 + b"0\r\n\r\n")' >"$big"
	raw --linger 1 "$H" "@$big"
	ok "$([ "$(r_codes)" = "200 413" ] && [ "$(r_end)" = CLOSED ]; echo $?)" \
		"chunks adding up past the limit after the answer -> 413 and close" "$(r_diag)"

	# malformed framing: a 400
	chunked_err "size not hex" 400 "${H}zz\r\nhello\r\n0\r\n\r\n"
	chunked_err "data longer than its size" 400 "${H}5\r\nhelloXX\r\n0\r\n\r\n"
	chunked_err "bare LF line ends" 400 "${H}5\nhello\n0\n\n"
	chunked_err "LF inside an extension" 400 "${H}5;a\nb\r\nhello\r\n0\r\n\r\n"
	chunked_err "a trailer without a colon" 400 "${H}0\r\nbad trailer\r\n\r\n"

	# framing that cannot be trusted, or a coding we do not have
	chunked_err "with Content-Length too" 400 \
		'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n'
	chunked_err "in HTTP/1.0" 400 'GET /a.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
	chunked_err "chunked twice" 400 \
		'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n'
	chunked_err "identity (chunked not last)" 400 \
		'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n'
	chunked_err "gzip, chunked" 501 \
		'GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'
}

all() {
	preconditions
	ranges
	chunked
}

variants all --max-body-bytes 65536
done_testing
