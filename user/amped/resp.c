/* resp — response semantics: statuses, header bytes, body plans.  No I/O:
 * everything comes in through the arguments (and the thread's date
 * strings), everything goes out through the buffer and the plan. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "fcache.h"
#include "http.h"
#include "proc.h"
#include "resp.h"

int resp_status_from_errno(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return 404;
	case EACCES:
	case EPERM:
	case EXDEV:		/* RESOLVE_BENEATH: a path or symlink leaving the root */
	case ELOOP:
	case EISDIR:		/* a directory without index.html: no listings */
		return 403;
	case ENAMETOOLONG:
		return 414;
	case EAGAIN:
	case EMFILE:
	case ENFILE:
	case ENOMEM:
		return 503;
	default:
		return 500;
	}
}

const char *resp_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* Appends that count what they would need even past the end of the buffer,
 * so that one pass both writes and measures. */
struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len + n <= o->size)
		memcpy(o->buf + o->len, s, n);
	o->len += n;
}

__attribute__((format(printf, 2, 3)))
static void putf(struct out *o, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void put_connection(struct out *o, bool keepalive)
{
	static const char ka[] = "Connection: keep-alive\r\n\r\n", cl[] = "Connection: close\r\n\r\n";

	if (keepalive)
		put(o, ka, sizeof(ka) - 1);
	else
		put(o, cl, sizeof(cl) - 1);
}

size_t resp_simple(char *buf, size_t size, int status, const char *extra,
		   const struct resp_req *rq, struct resp_plan *p)
{
	struct out o = { buf, size, 0 };
	char body[256];
	int blen = 0;
	/* these leave the request stream intact; other errors may not */
	bool keep = status == 301 || status == 304 || status == 403 ||
		    status == 404 || status == 416;

	memset(p, 0, sizeof(*p));
	p->status = status;
	p->keepalive = rq->keepalive && keep;
	if (status != 304)
		blen = snprintf(body, sizeof(body),
				"<html><head><title>%d %s</title></head><body><h1>%d %s</h1></body></html>\n",
				status, resp_reason(status), status, resp_reason(status));
	putf(&o, "HTTP/1.1 %d %s\r\n", status, resp_reason(status));
	put(&o, date_fields, date_fields_len);
	if (status != 304)
		putf(&o, "Content-Type: text/html\r\nContent-Length: %d\r\n", blen);
	if (extra)
		put(&o, extra, strlen(extra));
	put_connection(&o, p->keepalive);
	if (!rq->head_only && status != 304) {
		put(&o, body, (size_t)blen);
		p->body_bytes = (uint64_t)blen;
	}
	p->head_len = o.len;
	return o.len;
}

/* Percent-encode a path for a Location header. */
static size_t url_encode(const char *s, size_t n, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < n && o + 4 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("/-._~!$&'()*+,;=:@", ch)) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return o;
}

int resp_preconditions(const struct fentry *e, const struct resp_req *rq)
{
	time_t t;

	/* RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since. */
	if (rq->inm)
		return hp_etag_match(rq->inm, rq->inm_len, e->etag, e->etag_len) ? 304 : 0;
	if (rq->ims && hp_parse_http_date(rq->ims, rq->ims_len, &t) == 0 && e->mtime.tv_sec <= t)
		return 304;
	return 0;
}

int resp_range(const struct fentry *e, const struct resp_req *rq, uint64_t *first, uint64_t *last)
{
	if (!rq->range)
		return 200;
	if (rq->ifrange) {
		/* If-Range: an entity tag (strong comparison) or a date; a
		 * weak tag is "W/" + quoted, and "Wed, ..." is a date */
		time_t t;
		const char *v = rq->ifrange;
		size_t n = rq->ifrange_len;
		bool match;
		if (n > 0 && (v[0] == '"' || (n > 1 && v[0] == 'W' && v[1] == '/')))
			match = n == e->etag_len && memcmp(v, e->etag, n) == 0;
		else
			match = hp_parse_http_date(v, n, &t) == 0 && t == e->mtime.tv_sec;
		if (!match)
			return 200;
	}
	int r = hp_parse_range(rq->range, rq->range_len, e->size, first, last);
	return r < 0 ? 416 : r > 0 ? 206 : 200;
}

size_t resp_entry(char *buf, size_t size, struct fentry *e,
		  const struct resp_req *rq, struct resp_plan *p)
{
	uint64_t first = 0, last = 0;
	char f[768];

	if (e->kind == FE_REDIRECT) {
		char loc[4400 + 16], enc[4400];
		url_encode(rq->key, rq->key_len, enc, sizeof(enc));
		snprintf(loc, sizeof(loc), "Location: %s/\r\n", enc);
		return resp_simple(buf, size, 301, loc, rq, p);
	}
	if (e->kind != FE_FILE)
		return resp_simple(buf, size, resp_status_from_errno(e->err), NULL, rq, p);
	int status = resp_preconditions(e, rq);
	if (status == 304) {
		snprintf(f, sizeof(f), "ETag: %s\r\nLast-Modified: %s\r\n", e->etag, e->lastmod);
		return resp_simple(buf, size, 304, f, rq, p);
	}
	status = resp_range(e, rq, &first, &last);
	if (status == 416) {
		snprintf(f, sizeof(f), "Content-Range: bytes */%" PRIu64 "\r\n", e->size);
		return resp_simple(buf, size, 416, f, rq, p);
	}

	const char *fields;
	size_t flen;
	if (status == 206) {
		int n = snprintf(f, sizeof(f),
			"Content-Type: %s\r\nContent-Length: %" PRIu64 "\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n"
			"Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n",
			e->ctype, last - first + 1, first, last, e->size, e->lastmod, e->etag);
		if (n < 0 || (size_t)n >= sizeof(f))
			return resp_simple(buf, size, 500, NULL, rq, p);
		fields = f;
		flen = (size_t)n;
	} else {
		first = 0;
		last = e->size ? e->size - 1 : 0;
		flen = fc_header_fields(e, f, 512, &fields);
	}
	uint64_t blen = e->size ? last - first + 1 : 0;
	static const char s200[] = "HTTP/1.1 200 OK\r\n", s206[] = "HTTP/1.1 206 Partial Content\r\n";
	struct out o = { buf, size, 0 };
	if (status == 200)
		put(&o, s200, sizeof(s200) - 1);
	else
		put(&o, s206, sizeof(s206) - 1);
	put(&o, date_fields, date_fields_len);
	put(&o, fields, flen);
	put_connection(&o, rq->keepalive);
	if (o.len > size)		/* a head this large is not ours to send */
		return resp_simple(buf, size, 500, NULL, rq, p);
	memset(p, 0, sizeof(*p));
	p->status = status;
	p->keepalive = rq->keepalive;
	p->head_len = o.len;
	if (!rq->head_only && blen > 0) {
		p->body_bytes = blen;
		p->file_first = first;
		p->file_len = blen;
	}
	return o.len;
}
