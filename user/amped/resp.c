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
	case 412: return "Precondition Failed";
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
		    status == 404 || status == 412 || status == 416;

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
	/* only GET and HEAD get this far */
	switch (hp_evaluate_preconditions(&rq->cond, 1, e->etag, e->etag_len, e->mtime.tv_sec)) {
	case HP_PRE_FAILED: return 412;
	case HP_PRE_NOT_MODIFIED: return 304;
	case HP_PRE_FULL: return 200;
	case HP_PRE_PROCEED: break;
	}
	return 0;
}

int resp_range(const struct fentry *e, const struct resp_req *rq, struct hp_ranges *set)
{
	if (!rq->range)
		return 200;
	int r = hp_parse_ranges(rq->range, rq->range_len, e->size, set);
	return r < 0 ? 416 : r > 0 ? 206 : 200;
}

size_t resp_part(char *buf, size_t size, const struct fentry *e,
		 const struct resp_parts *mp, unsigned k, uint64_t *first,
		 uint64_t *len)
{
	if (k >= mp->set.n) {
		*first = *len = 0;
		return hp_multipart_trailer(buf, size, mp->boundary);
	}
	const struct hp_range *r = &mp->set.r[k];
	*first = r->first;
	*len = r->last - r->first + 1;
	return hp_multipart_part_header(buf, size, mp->boundary, e->ctype, r, e->size);
}

size_t resp_entry(char *buf, size_t size, struct fentry *e,
		  const struct resp_req *rq, struct resp_plan *p)
{
	uint64_t first = 0, last = 0, blen;
	struct hp_ranges set;
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
	if (status == 412)
		return resp_simple(buf, size, 412, NULL, rq, p);
	if (status == 304) {
		snprintf(f, sizeof(f), "ETag: %s\r\nLast-Modified: %s\r\n", e->etag, e->lastmod);
		return resp_simple(buf, size, 304, f, rq, p);
	}
	status = status == 200 ? 200 : resp_range(e, rq, &set);
	if (status == 416) {
		snprintf(f, sizeof(f), "Content-Range: bytes */%" PRIu64 "\r\n", e->size);
		return resp_simple(buf, size, 416, f, rq, p);
	}

	const char *fields;
	size_t flen;
	struct resp_parts parts = { .set = { .n = 0 } };
	int n = 0;
	if (status == 206 && set.n == 1) {
		first = set.r[0].first;
		last = set.r[0].last;
		blen = last - first + 1;
		n = snprintf(f, sizeof(f),
			"Content-Type: %s\r\nContent-Length: %" PRIu64 "\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n"
			"Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n",
			e->ctype, blen, first, last, e->size, e->lastmod, e->etag);
	} else if (status == 206) {
		/* several parts: the head ends with the first one's header */
		parts.set = set;
		hp_multipart_boundary(rq->boundary_seed, parts.boundary);
		first = set.r[0].first;
		last = set.r[0].last;
		blen = hp_multipart_length(&set, parts.boundary, e->ctype, e->size);
		n = snprintf(f, sizeof(f),
			"Content-Type: multipart/byteranges; boundary=%s\r\nContent-Length: %" PRIu64 "\r\n"
			"Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n",
			parts.boundary, blen, e->lastmod, e->etag);
	} else {
		first = 0;
		last = e->size ? e->size - 1 : 0;
		blen = e->size;
		n = (int)fc_header_fields(e, f, 512, &fields);
	}
	if (n < 0 || (size_t)n >= sizeof(f))
		return resp_simple(buf, size, 500, NULL, rq, p);
	if (status == 206)
		fields = f;
	flen = (size_t)n;
	static const char s200[] = "HTTP/1.1 200 OK\r\n", s206[] = "HTTP/1.1 206 Partial Content\r\n";
	struct out o = { buf, size, 0 };
	if (status == 200)
		put(&o, s200, sizeof(s200) - 1);
	else
		put(&o, s206, sizeof(s206) - 1);
	put(&o, date_fields, date_fields_len);
	put(&o, fields, flen);
	put_connection(&o, rq->keepalive);
	if (parts.set.n > 1 && !rq->head_only) {
		uint64_t f0, l0;
		char ph[256];
		size_t phl = resp_part(ph, sizeof(ph), e, &parts, 0, &f0, &l0);
		put(&o, ph, phl < sizeof(ph) ? phl : 0);
	}
	if (o.len > size)		/* a head this large is not ours to send */
		return resp_simple(buf, size, 500, NULL, rq, p);
	memset(p, 0, sizeof(*p));
	p->status = status;
	p->keepalive = rq->keepalive;
	p->head_len = o.len;
	if (!rq->head_only && blen > 0) {
		p->body_bytes = blen;
		p->file_first = first;
		p->file_len = last - first + 1;
		p->parts = parts;
	}
	return o.len;
}
