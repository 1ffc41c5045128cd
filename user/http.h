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

/* Parse a Range header value against a representation of `size` bytes.
 * Only a single "bytes=" range is honoured: "a-b", "a-", "-n".
 * Returns  1: satisfiable, [*first, *last] inclusive set, clipped to size;
 *          0: ignore the header (malformed, other unit, several ranges) -> 200;
 *         -1: syntactically valid but unsatisfiable -> 416. */
int hp_parse_range(const char *value, size_t value_len, uint64_t size,
		   uint64_t *first, uint64_t *last);

/* Parse an HTTP-date (IMF-fixdate, and the obsolete RFC 850 and asctime
 * forms).  Returns 0 and sets *t (UTC), or -1 if not a valid date. */
int hp_parse_http_date(const char *s, size_t len, time_t *t);

/* Format t as IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" (29 chars + NUL)
 * into out (at least 30 bytes).  Returns 29. */
int hp_format_http_date(time_t t, char *out);

/* If-None-Match: does the list (or "*") match etag (a quoted entity-tag)?
 * Weak comparison (RFC 9110 §13.1.2): W/ prefixes ignored.  1 yes, 0 no. */
int hp_etag_match(const char *list, size_t list_len, const char *etag,
		  size_t etag_len);

/* Content-Type for a path from a built-in extension table (case-
 * insensitive extension); "application/octet-stream" if unknown. */
const char *hp_mime_type(const char *path, size_t path_len);

#endif
