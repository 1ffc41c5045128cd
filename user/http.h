/* http — HTTP/1.x request parsing and the small helpers a static server needs.
 *
 * Prefix hp_.  Nothing here allocates or copies: results point into the
 * caller's buffer (pointer + length).  The parser is resumable in the sense
 * that calling it again on a longer buffer gives the right answer; it keeps
 * no state between calls.  Never reads past buf[len-1].
 */
#ifndef AMPED_HTTP_H
#define AMPED_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define HP_MAX_HEADERS 64

/* hp_parse_request() return values (<= 0). A positive value is success. */
#define HP_INCOMPLETE   (-1)	/* need more bytes; not an error */
#define HP_BAD          (-2)	/* malformed request -> 400 */
#define HP_TOO_MANY     (-3)	/* more than HP_MAX_HEADERS header fields -> 431 */
#define HP_BAD_VERSION  (-4)	/* well-formed but HTTP major version != 1 -> 505 */
#define HP_TOO_LARGE    (-5)	/* a body over the caller's limit -> 413 */
#define HP_UNSUPPORTED  (-6)	/* a transfer coding we do not implement -> 501 */

struct hp_header {
	const char *name;
	size_t name_len;
	const char *value;	/* leading/trailing spaces and tabs stripped */
	size_t value_len;
};

struct hp_request {
	const char *method;
	size_t method_len;
	const char *target;	/* request-target as sent, not decoded */
	size_t target_len;
	int minor_version;	/* 0 or 1 (HTTP/1.2..1.9 reported as 1) */
	size_t num_headers;
	struct hp_header headers[HP_MAX_HEADERS];
};

/* Parse one request head (request line + header fields + empty line) from
 * buf[0..len).  Accepts CRLF or bare LF line ends; skips up to 2 empty
 * lines before the request line (RFC 9112 §2.2).  Rejects: control
 * characters, non-token methods, whitespace before ':' in a field name
 * (request smuggling, RFC 9112 §5.1), obsolete line folding, a
 * request-target containing space or control characters.
 * Returns the number of bytes of the head (> 0) or one of HP_* above. */
int hp_parse_request(const char *buf, size_t len, struct hp_request *req);

/* Case-insensitive lookup of a header field; NULL if absent.  If the field
 * occurs more than once, the first is returned. */
const struct hp_header *hp_find_header(const struct hp_request *req,
				       const char *name);

/* How many times a header field occurs (case-insensitive name). */
size_t hp_count_header(const struct hp_request *req, const char *name);

/* Does a comma-separated header value contain `token` (case-insensitive,
 * e.g. Connection: keep-alive, close)?  1 yes, 0 no. */
int hp_has_token(const char *value, size_t value_len, const char *token);

/* Turn a request-target into a normalised path relative to the document
 * root, written to out (NUL-terminated, no leading '/').  Handles
 * origin-form "/a/b?q" and absolute-form "http://host/a/b?q"; drops the
 * query; percent-decodes; collapses "//" and "/./"; sets *trailing_slash if
 * the decoded path ends in '/' (or is the root).  The root itself becomes
 * the empty string "".
 * Returns the length of out (>= 0), or:
 *   -1  malformed target (not starting with '/', bad %-escape) -> 400
 *   -2  forbidden: "%00"/NUL, backslash, a ".." segment, control chars -> 403
 *   -3  out too small -> 414 */
int hp_decode_path(const char *target, size_t target_len, char *out,
		   size_t out_size, int *trailing_slash);

/* ---- Range (RFC 9110 §14) ----
 * Policy, chosen after trying nginx 1.22 and lighttpd 1.4.69:
 *  - at most HP_MAX_RANGES range-specs: a longer list is ignored as a
 *    whole (full 200), as Apache's MaxRanges does (lighttpd silently keeps
 *    its first 10; nginx has no bound by default).  RFC 9110 §14.2 lets a
 *    server ignore such a Range: many small ranges are how CVE-2011-3192
 *    made Apache build huge responses;
 *  - ranges that overlap, touch, or lie closer than HP_RANGE_GAP_BYTES
 *    (about one part header) are coalesced, as lighttpd does and §14.6
 *    allows; the result is then never larger than the file plus one part
 *    header per range, whatever the client lists (nginx instead sends the
 *    overlaps and falls back to a 200 when they add up past the file);
 *  - parts keep the order of their first range-spec (§14.6 SHOULD);
 *  - unsatisfiable specs are dropped; none left -> 416 (both peers);
 *  - any invalid spec ("5-3", junk) -> the header is ignored (§14.2 MAY),
 *    as amped did for single ranges (nginx answers junk with 416 and skips
 *    "5-3"; lighttpd skips both);
 *  - one range left -> a plain 206; several -> multipart/byteranges. */
#define HP_MAX_RANGES 16
#define HP_RANGE_GAP_BYTES 80

struct hp_range {
	uint64_t first, last;	/* inclusive, last < size */
};

struct hp_ranges {
	unsigned n;		/* 1..HP_MAX_RANGES when satisfiable */
	struct hp_range r[HP_MAX_RANGES];
};

/* Parse a Range value ("bytes=" 1#( a-b / a- / -n ), empty list elements
 * allowed) against a representation of `size` bytes.
 * Returns  1: satisfiable, out->n ranges set as described above;
 *          0: ignore the header (malformed, other unit, too many) -> 200;
 *         -1: syntactically valid but nothing satisfiable -> 416. */
int hp_parse_ranges(const char *value, size_t value_len, uint64_t size,
		    struct hp_ranges *out);

/* ---- multipart/byteranges (RFC 9110 §14.6) ----
 * The body is, for each range, part header + the range's bytes, then the
 * closing delimiter:
 *   "\r\n--B\r\nContent-Type: T\r\nContent-Range: bytes a-b/size\r\n\r\n"
 *   <bytes a..b> ... "\r\n--B--\r\n"
 * (the CRLF before the first delimiter is allowed as preamble by RFC 2046
 * §5.1.1 and keeps every part header the same shape; nginx does the same).
 * The formatters are snprintf-like: they write at most out_size bytes
 * (NUL included, nothing if out_size is 0) and return the length of the
 * whole text, so a NULL/0 call measures it. */
#define HP_BOUNDARY_BYTES 24	/* boundary text + NUL */

/* A boundary from a 64-bit number ("amped" + 16 hex digits).  Mix in
 * something the client cannot predict so that a file cannot be made to
 * contain it. */
void hp_multipart_boundary(uint64_t n, char out[HP_BOUNDARY_BYTES]);

size_t hp_multipart_part_header(char *out, size_t out_size,
				const char *boundary, const char *ctype,
				const struct hp_range *r, uint64_t size);
size_t hp_multipart_trailer(char *out, size_t out_size, const char *boundary);

/* The Content-Length of the whole multipart body. */
uint64_t hp_multipart_length(const struct hp_ranges *set, const char *boundary,
			     const char *ctype, uint64_t size);

/* Parse an HTTP-date (IMF-fixdate, and the obsolete RFC 850 and asctime
 * forms).  Returns 0 and sets *t (UTC), or -1 if not a valid date. */
int hp_parse_http_date(const char *s, size_t len, time_t *t);

/* Format t as IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" (29 chars + NUL)
 * into out (at least 30 bytes).  Returns 29. */
int hp_format_http_date(time_t t, char *out);

/* If-None-Match: does the list (or "*") match etag (a quoted entity-tag)?
 * Weak comparison (RFC 9110 §13.1.2): W/ prefixes ignored.  1 yes, 0 no;
 * a malformed list matches nothing. */
int hp_etag_match(const char *list, size_t list_len, const char *etag,
		  size_t etag_len);

/* The same with strong comparison (If-Match, §13.1.1): a W/ tag on either
 * side never matches. */
int hp_etag_match_strong(const char *list, size_t list_len, const char *etag,
			 size_t etag_len);

/* ---- preconditions (RFC 9110 §13) ----
 * A request's conditional fields; NULL when absent.  If a field occurs
 * more than once only the first is used (a miss then errs towards 412 for
 * If-Match and a full 200 for If-None-Match, both safe answers). */
struct hp_conditions {
	const char *if_match, *if_none_match, *if_modified_since,
		   *if_unmodified_since, *if_range;
	size_t if_match_len, if_none_match_len, if_modified_since_len,
	       if_unmodified_since_len, if_range_len;
};

/* Fill c from a parsed request. */
void hp_conditions_from_request(const struct hp_request *req,
				struct hp_conditions *c);

enum hp_precondition {
	HP_PRE_PROCEED = 0,	/* serve it; honour Range if there is one */
	HP_PRE_FULL,		/* serve it whole: If-Range did not match */
	HP_PRE_NOT_MODIFIED,	/* 304 */
	HP_PRE_FAILED,		/* 412 */
};

/* Evaluate the conditions in RFC 9110 §13.2.2's order against a
 * representation with entity-tag `etag` (quoted, strong or W/) and
 * modification time `mtime`:
 *   1. If-Match: no strong match ("*" matches) -> 412;
 *   2. else If-Unmodified-Since (a valid date): mtime later -> 412;
 *   3. If-None-Match: a weak match -> 304 for GET/HEAD, 412 otherwise;
 *   4. else, GET/HEAD only, If-Modified-Since (a valid date): mtime not
 *      later -> 304;
 *   5. If-Range (with GET/HEAD): a strong ETag match or a date equal to
 *      mtime keeps the Range; anything else -> HP_PRE_FULL.
 * Invalid dates are ignored (§13.1.3, §13.1.4); a malformed If-Match list
 * matches nothing.  get_or_head: the method is GET or HEAD. */
enum hp_precondition hp_evaluate_preconditions(const struct hp_conditions *c,
					       int get_or_head,
					       const char *etag, size_t etag_len,
					       time_t mtime);

/* ---- request body framing (RFC 9112 §6) ---- */
enum hp_body {
	HP_BODY_NONE = 0,
	HP_BODY_LENGTH,		/* Content-Length: *length bytes */
	HP_BODY_CHUNKED,	/* Transfer-Encoding: chunked */
};

/* How the request's body is framed.  Returns an hp_body (>= 0) or:
 *   HP_BAD:         Content-Length malformed or fields disagree; both
 *                   Transfer-Encoding and Content-Length (smuggling,
 *                   §6.3); Transfer-Encoding in HTTP/1.0 (§6.1); more
 *                   than one Transfer-Encoding field; chunked missing,
 *                   not last or applied twice (§6.3: MUST 400) -> 400;
 *   HP_TOO_LARGE:   Content-Length over max_body_bytes -> 413;
 *   HP_UNSUPPORTED: another coding before chunked (gzip, chunked) -> 501. */
int hp_body_framing(const struct hp_request *req, uint64_t max_body_bytes,
		    uint64_t *length);

/* ---- chunked body discarder (RFC 9112 §7.1) ----
 * Reads a chunked body and drops it, keeping its state between calls, so
 * bytes may arrive in any pieces (one at a time included) and nothing is
 * buffered.  Strict where a lenient parser lets two parsers disagree on
 * where the body ends (request smuggling): every line ends in CRLF (no
 * bare LF, no CR or LF inside a chunk extension); chunk-size is 1*HEXDIG,
 * nothing else before its optional BWS ";" extension; chunk data is
 * followed by exactly CRLF.  Extensions and trailer fields are checked
 * for legal bytes and ignored.  The limit counts the body as sent, framing
 * included (those are the bytes we read), and a chunk-size that would
 * pass it is refused as soon as its digits show it: a hostile
 * "ffffffffffffffffffff" is a 413 at once, never an overflow.  (Seen on
 * loopback: nginx 1.22 drops a chunked GET body with no limit and accepts
 * bare LF; lighttpd 1.4.69 answers any GET/HEAD body with 400.)
 * Zero the struct before the first call. */
struct hp_chunked {
	uint64_t left;		/* chunk-size, then data bytes still to come */
	uint64_t body_bytes;	/* consumed so far, framing included */
	unsigned char state;
};

/* Feed buf[0..len).  Returns:
 *   1             body complete; *used bytes of buf were the end of it
 *                 (what follows is the next request);
 *   HP_INCOMPLETE all len bytes used, more to come;
 *   HP_BAD        malformed framing -> 400; *used = offset of the byte;
 *   HP_TOO_LARGE  body over max_body_bytes -> 413; *used as for HP_BAD.
 * Once 1, HP_BAD or HP_TOO_LARGE was returned, later calls return the
 * same with *used = 0. */
int hp_chunked_discard(struct hp_chunked *d, const char *buf, size_t len,
		       uint64_t max_body_bytes, size_t *used);

/* Content-Type for a path from a built-in extension table (case-
 * insensitive extension); "application/octet-stream" if unknown. */
const char *hp_mime_type(const char *path, size_t path_len);

#endif
