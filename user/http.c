/* http — HTTP/1.x request parsing and helpers; contract in http.h.
 *
 * The request parser is a single forward pass over the bytes with one
 * 256-entry class table per grammar context.  It reports the first problem
 * in byte order, so a prefix of any input gives either HP_INCOMPLETE or the
 * same answer as the whole input: the caller can re-run it as bytes arrive.
 */
#include "http.h"

#include <limits.h>
#include <string.h>

/* RFC 9110 §5.6.2 tchar. */
static const unsigned char tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

/* Request-target bytes: visible ASCII; obs-text tolerated because some
 * clients send raw UTF-8 and it cannot break framing.  SP ends it. */
static const unsigned char target_ok[256] = {
	[0x21 ... 0x7e] = 1, [0x80 ... 0xff] = 1,
};

/* field-value bytes (RFC 9110 §5.5): VCHAR, SP, HTAB, obs-text.  Every
 * other CTL is refused: a NUL or bare CR is how header-injection and
 * smuggling attacks make two parsers disagree. */
static const unsigned char value_ok[256] = {
	['\t'] = 1, [0x20 ... 0x7e] = 1, [0x80 ... 0xff] = 1,
};

static inline int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* Consume CRLF or bare LF at *pp (the caller knows *pp < end).  A CR not
 * followed by LF is an error: RFC 9112 §2.2 lets us reject bare CR, and
 * accepting it is a classic smuggling vector. */
static inline int eat_eol(const unsigned char **pp, const unsigned char *end)
{
	const unsigned char *p = *pp;

	if (*p == '\n') {
		*pp = p + 1;
		return 0;
	}
	if (*p != '\r')
		return HP_BAD;
	if (p + 1 == end)
		return HP_INCOMPLETE;
	if (p[1] != '\n')
		return HP_BAD;
	*pp = p + 2;
	return 0;
}

int hp_parse_request(const char *buf, size_t len, struct hp_request *req)
{
	const unsigned char *start = (const unsigned char *)buf;
	const unsigned char *p = start, *end, *tok;
	int major, minor, rc;
	size_t n = 0;

	/* The return type is int; a head can never be that long in practice
	 * (the server's buffer is far smaller), so just look no further. */
	if (len > INT_MAX)
		len = INT_MAX;
	end = start + len;
	req->num_headers = 0;

	/* RFC 9112 §2.2: ignore at least one empty line before the request
	 * line; more than two is garbage. */
	for (int i = 0; i < 2; i++) {
		if (p == end)
			return HP_INCOMPLETE;
		if (*p != '\r' && *p != '\n')
			break;
		if ((rc = eat_eol(&p, end)) < 0)
			return rc;
	}

	/* method SP */
	tok = p;
	while (p < end && tchar[*p])
		p++;
	if (p == end)
		return HP_INCOMPLETE;
	if (*p != ' ' || p == tok)
		return HP_BAD;
	req->method = (const char *)tok;
	req->method_len = (size_t)(p - tok);
	p++;

	/* request-target SP */
	tok = p;
	while (p < end && target_ok[*p])
		p++;
	if (p == end)
		return HP_INCOMPLETE;
	if (*p != ' ' || p == tok)
		return HP_BAD;
	req->target = (const char *)tok;
	req->target_len = (size_t)(p - tok);
	p++;

	/* HTTP-version = "HTTP/" DIGIT "." DIGIT (case-sensitive) */
	if ((size_t)(end - p) >= 8) {
		if (memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' ||
		    p[6] != '.' || p[7] < '0' || p[7] > '9')
			return HP_BAD;
	} else {
		/* Short: check what is there so garbage fails early. */
		static const char pat[] = "HTTP/0.0";
		for (const unsigned char *q = p; q < end; q++) {
			int want = pat[q - p];
			if (want == '0' ? (*q < '0' || *q > '9') : *q != want)
				return HP_BAD;
		}
		return HP_INCOMPLETE;
	}
	major = p[5] - '0';
	minor = p[7] - '0';
	p += 8;
	if (p == end)
		return HP_INCOMPLETE;
	if ((rc = eat_eol(&p, end)) < 0)
		return rc;
	/* Judged only once the line is complete, so "HTTP/2.0x" is a 400,
	 * not a 505. */
	if (major != 1)
		return HP_BAD_VERSION;
	req->minor_version = minor > 1 ? 1 : minor;

	for (;;) {
		const unsigned char *name, *val, *vend;
		size_t name_len;

		if (p == end)
			return HP_INCOMPLETE;
		if (*p == '\r' || *p == '\n') {
			if ((rc = eat_eol(&p, end)) < 0)
				return rc;
			req->num_headers = n;
			return (int)(p - start);
		}
		/* A line starting with SP/HTAB is obs-fold (RFC 9112 §5.2) or
		 * whitespace before the first field (§2.2); both are rejected
		 * rather than guessed at. Any other non-tchar cannot start a
		 * field name. */
		if (!tchar[*p])
			return HP_BAD;
		if (n == HP_MAX_HEADERS)
			return HP_TOO_MANY;

		name = p;
		while (p < end && tchar[*p])
			p++;
		if (p == end)
			return HP_INCOMPLETE;
		/* RFC 9112 §5.1: no whitespace between name and colon. */
		if (*p != ':')
			return HP_BAD;
		name_len = (size_t)(p - name);
		p++;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		val = p;
		while (p < end && value_ok[*p])
			p++;
		if (p == end)
			return HP_INCOMPLETE;
		vend = p;
		while (vend > val && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		/* Stopped on a CTL: only CRLF / LF is acceptable. */
		if ((rc = eat_eol(&p, end)) < 0)
			return rc;

		req->headers[n].name = (const char *)name;
		req->headers[n].name_len = name_len;
		req->headers[n].value = (const char *)val;
		req->headers[n].value_len = (size_t)(vend - val);
		n++;
	}
}

size_t hp_count_header(const struct hp_request *req, const char *name)
{
	size_t len = strlen(name), n = 0;

	for (size_t i = 0; i < req->num_headers; i++) {
		const struct hp_header *h = &req->headers[i];
		n += h->name_len == len && ieq(h->name, name, len);
	}
	return n;
}

const struct hp_header *hp_find_header(const struct hp_request *req,
				       const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < req->num_headers; i++) {
		const struct hp_header *h = &req->headers[i];
		if (h->name_len == len && ieq(h->name, name, len))
			return h;
	}
	return NULL;
}

static inline int is_ows(int c)
{
	return c == ' ' || c == '\t';
}

int hp_has_token(const char *value, size_t value_len, const char *token)
{
	size_t tlen = strlen(token);
	size_t i = 0;

	while (i < value_len) {
		size_t s, e;

		while (i < value_len && (is_ows(value[i]) || value[i] == ','))
			i++;
		s = i;
		while (i < value_len && value[i] != ',')
			i++;
		e = i;
		while (e > s && is_ows(value[e - 1]))
			e--;
		if (e - s == tlen && tlen > 0 && ieq(value + s, token, tlen))
			return 1;
	}
	return 0;
}

static inline int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Path normalisation works segment by segment on the decoded bytes, so a
 * "%2e%2e" or "..%2f" is judged exactly as its decoded form would be by
 * the file system.  The first two bytes of a segment are held back until
 * we know the segment is not "." or "..", so that out_size is checked
 * against the normalised result, not an intermediate one. */
int hp_decode_path(const char *target, size_t target_len, char *out,
		   size_t out_size, int *trailing_slash)
{
	const char *p = target, *end;
	size_t o = 0;
	size_t seg_len = 0;	/* decoded bytes in the current segment */
	char held[2];		/* its first two bytes, not yet written */
	int last_empty = 1;	/* last segment was empty or "." */

	*trailing_slash = 0;
	if (out_size > 0)
		out[0] = '\0';

	if (target_len > 0 && target[0] == '/') {
		end = target + target_len;
	} else if ((target_len >= 7 && ieq(target, "http://", 7)) ||
		   (target_len >= 8 && ieq(target, "https://", 8))) {
		/* absolute-form (RFC 9112 §3.2.2): the authority is not ours
		 * to check here; Host handling lives with the caller. */
		size_t i = target[4] == ':' ? 7 : 8;
		while (i < target_len && target[i] != '/' && target[i] != '?' &&
		       target[i] != '#')
			i++;
		p = target + i;
		end = target + target_len;
	} else {
		return -1;
	}

	/* Drop query and fragment. */
	for (const char *q = p; q < end; q++) {
		if (*q == '?' || *q == '#') {
			end = q;
			break;
		}
	}

	for (;;) {
		int c = 0;
		int at_sep = 0, at_end = p == end;

		if (at_end) {
			at_sep = 1;
		} else {
			c = (unsigned char)*p++;
			if (c == '%') {
				int h, l;
				if (end - p < 2 || (h = hexval(p[0])) < 0 ||
				    (l = hexval(p[1])) < 0)
					return -1;
				c = h * 16 + l;
				p += 2;
				/* %00 would truncate a C path: forbidden. */
				if (c == 0)
					return -2;
			}
			/* A backslash is a separator on some file systems and
			 * in many path-traversal payloads; control bytes have
			 * no business in a file name. */
			if (c == '\\' || c < 0x20 || c == 0x7f)
				return -2;
			if (c == '/')
				at_sep = 1;
		}

		if (!at_sep) {
			if (seg_len < 2) {
				held[seg_len++] = (char)c;
				continue;
			}
			if (seg_len == 2) {
				/* Segment is now known to be real: flush. */
				if (o + (o > 0) + 2 >= out_size)
					return -3;
				if (o > 0)
					out[o++] = '/';
				out[o++] = held[0];
				out[o++] = held[1];
			}
			if (o + 1 >= out_size)
				return -3;
			out[o++] = (char)c;
			seg_len++;
			continue;
		}

		/* End of a segment. */
		if (seg_len == 0 || (seg_len == 1 && held[0] == '.')) {
			last_empty = 1;
		} else if (seg_len == 2 && held[0] == '.' && held[1] == '.') {
			return -2;
		} else {
			if (seg_len <= 2) {
				if (o + (o > 0) + seg_len >= out_size)
					return -3;
				if (o > 0)
					out[o++] = '/';
				for (size_t k = 0; k < seg_len; k++)
					out[o++] = held[k];
			}
			last_empty = 0;
		}
		seg_len = 0;
		if (at_end)
			break;
	}

	if (o >= out_size)
		return -3;
	out[o] = '\0';
	*trailing_slash = last_empty;
	/* out holds at most target_len bytes; clamp for the int return. */
	return o > INT_MAX ? -3 : (int)o;
}

/* Parse 1*DIGIT into *v, saturating at UINT64_MAX (a position past any
 * file: a huge last-pos clips to the end, a huge first-pos is
 * unsatisfiable); returns bytes used, 0 if none, -1 if absurdly long. */
static int parse_u64(const char *s, size_t len, uint64_t *v)
{
	uint64_t x = 0;
	size_t i = 0;

	while (i < len && s[i] >= '0' && s[i] <= '9') {
		unsigned d = (unsigned)(s[i] - '0');
		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
		i++;
	}
	*v = x;
	return i > INT_MAX ? -1 : (int)i;
}

int hp_parse_range(const char *value, size_t value_len, uint64_t size,
		   uint64_t *first, uint64_t *last)
{
	size_t i = 0, n = value_len;
	uint64_t a = 0, b = 0;
	int has_a, has_b, r;

	while (i < n && is_ows(value[i]))
		i++;
	while (n > i && is_ows(value[n - 1]))
		n--;
	/* RFC 9110 §14.1: range units are case-insensitive. */
	if (n - i < 5 || !ieq(value + i, "bytes", 5))
		return 0;
	i += 5;
	while (i < n && is_ows(value[i]))
		i++;
	if (i == n || value[i] != '=')
		return 0;
	i++;
	while (i < n && is_ows(value[i]))
		i++;

	if ((r = parse_u64(value + i, n - i, &a)) < 0)
		return 0;
	has_a = r > 0;
	i += (size_t)r;
	if (i == n || value[i] != '-')
		return 0;
	i++;
	if ((r = parse_u64(value + i, n - i, &b)) < 0)
		return 0;
	has_b = r > 0;
	i += (size_t)r;
	/* RFC 9110 §5.6.1: empty list elements are allowed ("0-5, ,") */
	for (size_t k = i; k < n && (value[k] == ',' || is_ows(value[k])); k++)
		if (k + 1 == n)
			i = n;
	/* Anything else left (a second range, junk) -> ignore the
	 * header; serving the whole file is always a correct answer. */
	if (i != n || (!has_a && !has_b))
		return 0;

	if (!has_a) {
		/* suffix-range: the last b bytes */
		if (b == 0 || size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	if (has_b && a > b)
		return 0;
	if (a >= size)
		return -1;
	*first = a;
	*last = (!has_b || b >= size) ? size - 1 : b;
	return 1;
}

static const char wday_name[7][4] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const wday_long[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
	"Saturday"
};
static const char mon_name[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* Dates are case-sensitive per RFC 9110 §5.6.7. */
static int match_wday(const char *s)
{
	for (int i = 0; i < 7; i++)
		if (memcmp(s, wday_name[i], 3) == 0)
			return i;
	return -1;
}

static int match_mon(const char *s)
{
	for (int i = 0; i < 12; i++)
		if (memcmp(s, mon_name[i], 3) == 0)
			return i;
	return -1;
}

/* n decimal digits at s; -1 if any is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "HH:MM:SS" */
static int parse_hms(const char *s, struct tm *tm)
{
	if (s[2] != ':' || s[5] != ':')
		return -1;
	tm->tm_hour = digits(s, 2);
	tm->tm_min = digits(s + 3, 2);
	tm->tm_sec = digits(s + 6, 2);
	/* sec 60: a leap second is a valid time-of-day (RFC 9110 §5.6.7). */
	if (tm->tm_hour < 0 || tm->tm_hour > 23 || tm->tm_min < 0 ||
	    tm->tm_min > 59 || tm->tm_sec < 0 || tm->tm_sec > 60)
		return -1;
	return 0;
}

static int days_in_month(int year, int mon)
{
	static const unsigned char d[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return d[mon] + (mon == 1 && leap);
}

int hp_parse_http_date(const char *s, size_t len, time_t *t)
{
	struct tm tm;
	int year;
	time_t r;

	memset(&tm, 0, sizeof(tm));
	if (len == 29 && s[3] == ',') {
		/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
		if (match_wday(s) < 0 || s[4] != ' ' || s[7] != ' ' ||
		    s[11] != ' ' || s[16] != ' ' || memcmp(s + 25, " GMT", 4) != 0)
			return -1;
		tm.tm_mday = digits(s + 5, 2);
		tm.tm_mon = match_mon(s + 8);
		year = digits(s + 12, 4);
		if (parse_hms(s + 17, &tm) < 0)
			return -1;
	} else if (len == 24 && s[3] == ' ') {
		/* asctime: "Sun Nov  6 08:49:37 1994" */
		if (match_wday(s) < 0 || s[7] != ' ' || s[10] != ' ' ||
		    s[19] != ' ')
			return -1;
		tm.tm_mon = match_mon(s + 4);
		if (s[8] == ' ')
			tm.tm_mday = digits(s + 9, 1);
		else
			tm.tm_mday = digits(s + 8, 2);
		if (parse_hms(s + 11, &tm) < 0)
			return -1;
		year = digits(s + 20, 4);
	} else {
		/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
		int w, yy;
		size_t wl = 0;

		for (w = 0; w < 7; w++) {
			wl = strlen(wday_long[w]);
			if (len > wl && memcmp(s, wday_long[w], wl) == 0)
				break;
		}
		if (w == 7 || len != wl + 24)
			return -1;
		s += wl;
		if (s[0] != ',' || s[1] != ' ' || s[4] != '-' || s[8] != '-' ||
		    s[11] != ' ' || memcmp(s + 20, " GMT", 4) != 0)
			return -1;
		tm.tm_mday = digits(s + 2, 2);
		tm.tm_mon = match_mon(s + 5);
		yy = digits(s + 9, 2);
		if (yy < 0 || parse_hms(s + 12, &tm) < 0)
			return -1;
		/* Two-digit year (RFC 9110 §5.6.7 wants "50 years in the
		 * future means the past"); a fixed 1970 pivot keeps the
		 * answer independent of the clock, which is what matters
		 * for a long-dead format. */
		year = yy < 70 ? 2000 + yy : 1900 + yy;
	}
	if (tm.tm_mon < 0 || year < 0 || tm.tm_mday < 1 ||
	    tm.tm_mday > days_in_month(year, tm.tm_mon))
		return -1;
	tm.tm_year = year - 1900;
	r = timegm(&tm);
	if (r == (time_t)-1 && !(year == 1969 && tm.tm_mon == 11 &&
				 tm.tm_mday == 31 && tm.tm_hour == 23 &&
				 tm.tm_min == 59 && tm.tm_sec == 59))
		return -1;
	*t = r;
	return 0;
}

static inline char *put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

int hp_format_http_date(time_t t, char *out)
{
	struct tm tm;
	char *p = out;

	/* Keep the year to four digits so the result is always 29 bytes. */
	if (t < (time_t)-62167219200LL)		/* 0000-01-01T00:00:00Z */
		t = (time_t)-62167219200LL;
	if (t > (time_t)253402300799LL)		/* 9999-12-31T23:59:59Z */
		t = (time_t)253402300799LL;
	gmtime_r(&t, &tm);

	memcpy(p, wday_name[tm.tm_wday], 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	p = put2(p, tm.tm_mday);
	*p++ = ' ';
	memcpy(p, mon_name[tm.tm_mon], 3);
	p += 3;
	*p++ = ' ';
	p = put2(p, (tm.tm_year + 1900) / 100);
	p = put2(p, (tm.tm_year + 1900) % 100);
	*p++ = ' ';
	p = put2(p, tm.tm_hour);
	*p++ = ':';
	p = put2(p, tm.tm_min);
	*p++ = ':';
	p = put2(p, tm.tm_sec);
	memcpy(p, " GMT", 5);
	return 29;
}

/* Strip an optional W/ and require a quoted opaque-tag; returns the tag
 * including quotes via tag and tag_len, or -1 if malformed. */
static int etag_opaque(const char *s, size_t len, const char **tag,
		       size_t *tag_len)
{
	if (len >= 2 && s[0] == 'W' && s[1] == '/') {
		s += 2;
		len -= 2;
	}
	if (len < 2 || s[0] != '"' || s[len - 1] != '"')
		return -1;
	*tag = s;
	*tag_len = len;
	return 0;
}

int hp_etag_match(const char *list, size_t list_len, const char *etag,
		  size_t etag_len)
{
	const char *want;
	size_t want_len, i = 0, n = list_len;
	int matched = 0;

	if (etag_opaque(etag, etag_len, &want, &want_len) < 0)
		return 0;
	while (i < n && is_ows(list[i]))
		i++;
	while (n > i && is_ows(list[n - 1]))
		n--;
	if (n - i == 1 && list[i] == '*')
		return 1;

	/* A malformed list is ignored as a whole (answer 0 -> send the full
	 * response), which is always safe for If-None-Match. */
	while (i < n) {
		size_t s;
		const unsigned char *q;

		while (i < n && (is_ows(list[i]) || list[i] == ','))
			i++;
		if (i == n)
			break;
		s = i;
		if (n - i >= 2 && list[i] == 'W' && list[i + 1] == '/')
			i += 2;
		if (i == n || list[i] != '"')
			return 0;
		/* etagc = %x21 / %x23-7E / obs-text */
		for (i++; i < n && list[i] != '"'; i++) {
			q = (const unsigned char *)list + i;
			if (*q < 0x21 || *q == 0x7f)
				return 0;
		}
		if (i == n)
			return 0;
		i++;
		{
			const char *tag;
			size_t tag_len;
			if (etag_opaque(list + s, i - s, &tag, &tag_len) == 0 &&
			    tag_len == want_len && memcmp(tag, want, want_len) == 0)
				matched = 1;
		}
		while (i < n && is_ows(list[i]))
			i++;
		if (i < n && list[i] != ',')
			return 0;
	}
	return matched;
}

const char *hp_mime_type(const char *path, size_t path_len)
{
	static const struct {
		char ext[6];
		const char *type;
	} table[] = {
		{ "html", "text/html" },
		{ "htm", "text/html" },
		{ "css", "text/css" },
		{ "js", "application/javascript" },
		{ "mjs", "application/javascript" },
		{ "json", "application/json" },
		{ "txt", "text/plain" },
		{ "md", "text/markdown" },
		{ "xml", "text/xml" },
		{ "svg", "image/svg+xml" },
		{ "png", "image/png" },
		{ "jpg", "image/jpeg" },
		{ "jpeg", "image/jpeg" },
		{ "gif", "image/gif" },
		{ "webp", "image/webp" },
		{ "ico", "image/x-icon" },
		{ "avif", "image/avif" },
		{ "pdf", "application/pdf" },
		{ "wasm", "application/wasm" },
		{ "mp4", "video/mp4" },
		{ "webm", "video/webm" },
		{ "mp3", "audio/mpeg" },
		{ "ogg", "audio/ogg" },
		{ "wav", "audio/wav" },
		{ "woff", "font/woff" },
		{ "woff2", "font/woff2" },
		{ "ttf", "font/ttf" },
		{ "otf", "font/otf" },
		{ "zip", "application/zip" },
		{ "gz", "application/gzip" },
		{ "tgz", "application/gzip" },
		{ "tar", "application/x-tar" },
		{ "bz2", "application/x-bzip2" },
		{ "xz", "application/x-xz" },
		{ "7z", "application/x-7z-compressed" },
		{ "csv", "text/csv" },
	};
	static const char dflt[] = "application/octet-stream";
	size_t i = path_len, dot = SIZE_MAX, elen;
	char ext[6];

	while (i > 0 && path[i - 1] != '/') {
		i--;
		if (path[i] == '.' && dot == SIZE_MAX)
			dot = i;
	}
	/* A leading dot names a hidden file (".html"), not an extension. */
	if (dot == SIZE_MAX || dot == i)
		return dflt;
	elen = path_len - dot - 1;
	if (elen == 0 || elen >= sizeof(ext))
		return dflt;
	for (size_t k = 0; k < elen; k++)
		ext[k] = (char)lower((unsigned char)path[dot + 1 + k]);
	ext[elen] = '\0';
	for (size_t k = 0; k < sizeof(table) / sizeof(table[0]); k++)
		if (strcmp(table[k].ext, ext) == 0)
			return table[k].type;
	return dflt;
}
