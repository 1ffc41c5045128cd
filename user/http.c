/* http — HTTP/1.x request parsing and helpers; contract in http.h.
 *
 * The request parser is a single forward pass over the bytes with one
 * 256-entry class table per grammar context.  It reports the first problem
 * in byte order, so a prefix of any input gives either HP_INCOMPLETE or the
 * same answer as the whole input: the caller can re-run it as bytes arrive.
 */
#include "http.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
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

/* One range-spec at value[*pi..n): "a-b", "a-" or "-n", followed by OWS
 * and a ',' or the end.  Sets *first and *last, clipped to size.  Returns 1
 * satisfiable, -1 unsatisfiable, 0 invalid. */
static int parse_range_spec(const char *value, size_t *pi, size_t n,
			    uint64_t size, uint64_t *first, uint64_t *last)
{
	size_t i = *pi;
	uint64_t a = 0, b = 0;
	int has_a, has_b, r;

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
	while (i < n && is_ows(value[i]))
		i++;
	if ((i < n && value[i] != ',') || (!has_a && !has_b))
		return 0;
	*pi = i;

	if (!has_a) {
		/* suffix-range: the last b bytes */
		if (b == 0 || size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	/* RFC 9110 §14.1.1: last-pos before first-pos makes it invalid. */
	if (has_b && a > b)
		return 0;
	if (a >= size)
		return -1;
	*first = a;
	*last = (!has_b || b >= size) ? size - 1 : b;
	return 1;
}

/* Do two ranges overlap, touch, or lie within HP_RANGE_GAP_BYTES? */
static int ranges_near(const struct hp_range *x, const struct hp_range *y)
{
	const struct hp_range *lo = x->first <= y->first ? x : y;
	const struct hp_range *hi = lo == x ? y : x;

	return lo->last >= hi->first ||
	       hi->first - lo->last - 1 < HP_RANGE_GAP_BYTES;
}

/* Add [first, last] to the set, merging it with every range it comes near;
 * the merged range takes the place of the earliest one it absorbed.  The
 * set stays pairwise apart, so each merge removes one element: at most
 * HP_MAX_RANGES rescans. */
static void ranges_add(struct hp_ranges *out, uint64_t first, uint64_t last)
{
	struct hp_range cur = { first, last };
	unsigned at = out->n;	/* where cur goes */

	for (unsigned k = 0; k < out->n;) {
		if (!ranges_near(&cur, &out->r[k])) {
			k++;
			continue;
		}
		if (out->r[k].first < cur.first)
			cur.first = out->r[k].first;
		if (out->r[k].last > cur.last)
			cur.last = out->r[k].last;
		if (k < at)
			at = k;
		/* drop element k; later ones move down, cur goes in at */
		memmove(&out->r[k], &out->r[k + 1],
			(out->n - k - 1) * sizeof(out->r[0]));
		out->n--;
		k = 0;	/* cur grew: it may now reach an earlier one */
	}
	memmove(&out->r[at + 1], &out->r[at], (out->n - at) * sizeof(out->r[0]));
	out->r[at] = cur;
	out->n++;
}

int hp_parse_ranges(const char *value, size_t value_len, uint64_t size,
		    struct hp_ranges *out)
{
	size_t i = 0, n = value_len;
	unsigned nspecs = 0;
	int any_unsat = 0;

	out->n = 0;
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

	for (;;) {
		uint64_t first, last;
		int r;

		/* RFC 9110 §5.6.1: empty list elements are allowed */
		while (i < n && (is_ows(value[i]) || value[i] == ','))
			i++;
		if (i == n)
			break;
		if (++nspecs > HP_MAX_RANGES)
			return 0;
		r = parse_range_spec(value, &i, n, size, &first, &last);
		if (r == 0)
			return 0;
		if (r < 0)
			any_unsat = 1;
		else
			ranges_add(out, first, last);
	}
	if (nspecs == 0)
		return 0;
	if (out->n == 0)
		return any_unsat ? -1 : 0;
	return 1;
}

void hp_multipart_boundary(uint64_t n, char out[HP_BOUNDARY_BYTES])
{
	snprintf(out, HP_BOUNDARY_BYTES, "amped%016" PRIx64, n);
}

/* snprintf's answer as a size_t; our formats cannot fail. */
static size_t fmt_len(int n)
{
	return n < 0 ? 0 : (size_t)n;
}

size_t hp_multipart_part_header(char *out, size_t out_size,
				const char *boundary, const char *ctype,
				const struct hp_range *r, uint64_t size)
{
	return fmt_len(snprintf(out, out_size,
				"\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %" PRIu64
				"-%" PRIu64 "/%" PRIu64 "\r\n\r\n",
				boundary, ctype, r->first, r->last, size));
}

size_t hp_multipart_trailer(char *out, size_t out_size, const char *boundary)
{
	return fmt_len(snprintf(out, out_size, "\r\n--%s--\r\n", boundary));
}

uint64_t hp_multipart_length(const struct hp_ranges *set, const char *boundary,
			     const char *ctype, uint64_t size)
{
	uint64_t total = hp_multipart_trailer(NULL, 0, boundary);

	for (unsigned k = 0; k < set->n; k++)
		total += hp_multipart_part_header(NULL, 0, boundary, ctype,
						  &set->r[k], size) +
			 (set->r[k].last - set->r[k].first + 1);
	return total;
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

/* Does list ("*" or 1#entity-tag) match etag?  strong: W/ on either side
 * never matches (RFC 9110 §13.1.1/§8.8.3.2).  A malformed list matches
 * nothing. */
static int etag_list_match(const char *list, size_t list_len, const char *etag,
			   size_t etag_len, int strong)
{
	const char *want;
	size_t want_len, i = 0, n = list_len;
	int matched = 0;

	if (etag_opaque(etag, etag_len, &want, &want_len) < 0)
		return 0;
	if (strong && want != etag)
		return 0;	/* our own tag is weak */
	while (i < n && is_ows(list[i]))
		i++;
	while (n > i && is_ows(list[n - 1]))
		n--;
	if (n - i == 1 && list[i] == '*')
		return 1;

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
			    (!strong || tag == list + s) &&
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

int hp_etag_match(const char *list, size_t list_len, const char *etag,
		  size_t etag_len)
{
	/* A malformed list is ignored as a whole (answer 0 -> send the full
	 * response), which is always safe for If-None-Match. */
	return etag_list_match(list, list_len, etag, etag_len, 0);
}

int hp_etag_match_strong(const char *list, size_t list_len, const char *etag,
			 size_t etag_len)
{
	return etag_list_match(list, list_len, etag, etag_len, 1);
}

/* ---------------- preconditions ---------------- */

void hp_conditions_from_request(const struct hp_request *req,
				struct hp_conditions *c)
{
	static const char *const names[5] = {
		"if-match", "if-none-match", "if-modified-since",
		"if-unmodified-since", "if-range"
	};
	const char **val[5] = {
		&c->if_match, &c->if_none_match, &c->if_modified_since,
		&c->if_unmodified_since, &c->if_range
	};
	size_t *len[5] = {
		&c->if_match_len, &c->if_none_match_len, &c->if_modified_since_len,
		&c->if_unmodified_since_len, &c->if_range_len
	};

	for (int k = 0; k < 5; k++) {
		const struct hp_header *h = hp_find_header(req, names[k]);
		*val[k] = h ? h->value : NULL;
		*len[k] = h ? h->value_len : 0;
	}
}

enum hp_precondition hp_evaluate_preconditions(const struct hp_conditions *c,
					       int get_or_head,
					       const char *etag, size_t etag_len,
					       time_t mtime)
{
	time_t t;

	/* 1 and 2: the client's copy must still be current. */
	if (c->if_match) {
		if (!hp_etag_match_strong(c->if_match, c->if_match_len, etag, etag_len))
			return HP_PRE_FAILED;
	} else if (c->if_unmodified_since &&
		   hp_parse_http_date(c->if_unmodified_since,
				      c->if_unmodified_since_len, &t) == 0 &&
		   mtime > t) {
		return HP_PRE_FAILED;
	}
	/* 3 and 4: the client's copy may be reused. */
	if (c->if_none_match) {
		if (hp_etag_match(c->if_none_match, c->if_none_match_len, etag, etag_len))
			return get_or_head ? HP_PRE_NOT_MODIFIED : HP_PRE_FAILED;
	} else if (get_or_head && c->if_modified_since &&
		   hp_parse_http_date(c->if_modified_since,
				      c->if_modified_since_len, &t) == 0 &&
		   mtime <= t) {
		return HP_PRE_NOT_MODIFIED;
	}
	/* 5: a Range only for the representation the client has parts of.
	 * An entity-tag needs a strong match; a date must equal mtime
	 * (§13.1.5); anything else (a malformed value) fails safe: the whole
	 * representation. */
	if (get_or_head && c->if_range) {
		const char *v = c->if_range;
		size_t n = c->if_range_len;

		if (n > 0 && (v[0] == '"' || (n > 1 && v[0] == 'W' && v[1] == '/'))) {
			if (!(n == etag_len && etag[0] == '"' &&
			      memcmp(v, etag, n) == 0))
				return HP_PRE_FULL;
		} else if (hp_parse_http_date(v, n, &t) != 0 || t != mtime) {
			return HP_PRE_FULL;
		}
	}
	return HP_PRE_PROCEED;
}

/* ---------------- request body framing ---------------- */

int hp_body_framing(const struct hp_request *req, uint64_t max_body_bytes,
		    uint64_t *length)
{
	const struct hp_header *te = NULL, *cl = NULL;
	size_t nte = 0;

	*length = 0;
	for (size_t i = 0; i < req->num_headers; i++) {
		const struct hp_header *h = &req->headers[i];
		if (h->name_len == 17 && ieq(h->name, "transfer-encoding", 17)) {
			te = h;
			nte++;
		} else if (h->name_len == 14 && ieq(h->name, "content-length", 14)) {
			/* §6.3: several that disagree -> the framing is lost */
			if (cl && (h->value_len != cl->value_len ||
				   memcmp(h->value, cl->value, h->value_len) != 0))
				return HP_BAD;
			cl = h;
		}
	}
	if (te) {
		const char *v = te->value;
		size_t n = te->value_len, i = 0, s, e;
		int codings = 0, chunked_last = 0;

		/* §6.1: TE in 1.0 or next to CL is how smuggling starts; two
		 * TE fields would have to be combined, refused instead. */
		if (req->minor_version == 0 || cl || nte > 1)
			return HP_BAD;
		while (i < n) {
			while (i < n && (is_ows(v[i]) || v[i] == ','))
				i++;
			if (i == n)
				break;
			s = i;
			while (i < n && v[i] != ',')
				i++;
			e = i;
			while (e > s && is_ows(v[e - 1]))
				e--;
			/* chunked applied twice (§7: MUST NOT) */
			if (chunked_last)
				return HP_BAD;
			chunked_last = e - s == 7 && ieq(v + s, "chunked", 7);
			codings++;
		}
		if (!chunked_last)
			return HP_BAD;
		return codings > 1 ? HP_UNSUPPORTED : HP_BODY_CHUNKED;
	}
	if (cl) {
		uint64_t x = 0;

		if (cl->value_len == 0)
			return HP_BAD;
		/* 18 digits cannot overflow; more is over any limit we allow */
		if (cl->value_len > 18)
			return HP_TOO_LARGE;
		for (size_t i = 0; i < cl->value_len; i++) {
			if (cl->value[i] < '0' || cl->value[i] > '9')
				return HP_BAD;
			x = x * 10 + (uint64_t)(cl->value[i] - '0');
		}
		if (x > max_body_bytes)
			return HP_TOO_LARGE;
		*length = x;
		return HP_BODY_LENGTH;
	}
	return HP_BODY_NONE;
}

/* ---------------- chunked body ---------------- */

enum {
	CK_SIZE0 = 0,	/* first hex digit of chunk-size */
	CK_SIZE,	/* more digits, BWS, ';' or CR */
	CK_BWS,		/* after BWS: more BWS, ';' or CR */
	CK_EXT,		/* chunk-ext bytes until CR */
	CK_SIZE_LF,
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	CK_TR_START,	/* a trailer field or the final CRLF */
	CK_TR_NAME,
	CK_TR_VALUE,
	CK_TR_LF,
	CK_END_LF,
	CK_DONE,
	CK_BAD,
	CK_TOO_LARGE,
};

/* Can the chunk's data (d->left) and its CRLF still come within the
 * limit?  body_bytes never passes the limit, so nothing here wraps. */
static int chunk_fits(const struct hp_chunked *d, uint64_t max_body_bytes)
{
	uint64_t room = max_body_bytes - d->body_bytes;

	return d->left <= room && room - d->left >= 2;
}

int hp_chunked_discard(struct hp_chunked *d, const char *buf, size_t len,
		       uint64_t max_body_bytes, size_t *used)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0;

	*used = 0;
	switch (d->state) {
	case CK_DONE: return 1;
	case CK_BAD: return HP_BAD;
	case CK_TOO_LARGE: return HP_TOO_LARGE;
	}
	while (i < len) {
		int c = p[i], v;

		if (d->state == CK_DATA) {
			size_t take = len - i;
			if (take > d->left)
				take = (size_t)d->left;
			/* the whole chunk and its CRLF were checked against
			 * the limit at the end of its size line */
			d->left -= take;
			d->body_bytes += take;
			i += take;
			if (d->left == 0)
				d->state = CK_DATA_CR;
			continue;
		}
		if (d->body_bytes >= max_body_bytes) {
			i++;	/* *used points at this byte */
			goto too_large;
		}
		d->body_bytes++;
		i++;
		switch (d->state) {
		case CK_SIZE0:
		case CK_SIZE:
			if ((v = hexval(c)) >= 0) {
				/* Refused as soon as the digits so far show
				 * that the data and its CRLF cannot fit: no
				 * number of digits can overflow. */
				if (d->left > (max_body_bytes >> 4))
					goto too_large;
				d->left = d->left * 16 + (uint64_t)v;
				if (!chunk_fits(d, max_body_bytes))
					goto too_large;
				d->state = CK_SIZE;
			} else if (d->state == CK_SIZE0) {
				goto bad;
			} else if (c == ' ' || c == '\t') {
				d->state = CK_BWS;
			} else if (c == ';') {
				d->state = CK_EXT;
			} else if (c == '\r') {
				d->state = CK_SIZE_LF;
			} else {
				goto bad;
			}
			break;
		case CK_BWS:
			if (c == ';')
				d->state = CK_EXT;
			else if (c == '\r')
				d->state = CK_SIZE_LF;
			else if (c != ' ' && c != '\t')
				goto bad;
			break;
		case CK_EXT:
			/* §7.1.1: extensions are ignored; only bytes that
			 * cannot end a line early are let through */
			if (c == '\r')
				d->state = CK_SIZE_LF;
			else if (!value_ok[c])
				goto bad;
			break;
		case CK_SIZE_LF:
			if (c != '\n')
				goto bad;
			/* again: the extension took some of the room */
			if (d->left && !chunk_fits(d, max_body_bytes))
				goto too_large;
			d->state = d->left ? CK_DATA : CK_TR_START;
			break;
		case CK_DATA_CR:
			if (c != '\r')
				goto bad;
			d->state = CK_DATA_LF;
			break;
		case CK_DATA_LF:
			if (c != '\n')
				goto bad;
			d->state = CK_SIZE0;
			break;
		case CK_TR_START:
			if (c == '\r')
				d->state = CK_END_LF;
			else if (tchar[c])
				d->state = CK_TR_NAME;
			else
				goto bad;
			break;
		case CK_TR_NAME:
			if (c == ':')
				d->state = CK_TR_VALUE;
			else if (!tchar[c])
				goto bad;
			break;
		case CK_TR_VALUE:
			if (c == '\r')
				d->state = CK_TR_LF;
			else if (!value_ok[c])
				goto bad;
			break;
		case CK_TR_LF:
			if (c != '\n')
				goto bad;
			d->state = CK_TR_START;
			break;
		case CK_END_LF:
			if (c != '\n')
				goto bad;
			d->state = CK_DONE;
			*used = i;
			return 1;
		default:
			goto bad;
		}
	}
	*used = len;
	return HP_INCOMPLETE;
bad:
	d->state = CK_BAD;
	*used = i - 1;
	return HP_BAD;
too_large:
	d->state = CK_TOO_LARGE;
	*used = i - 1;
	return HP_TOO_LARGE;
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
