/* rp — see rp.h. */
#include <string.h>
#include <strings.h>
#include "rp.h"

enum {
	PH_HEAD,	/* collecting the head in p->head */
	PH_LENGTH,	/* Content-Length body */
	PH_CLOSE,	/* body until the connection closes */
	PH_CSIZE,	/* chunk-size line (with extensions) */
	PH_CSIZE_LF,	/* after the CR of a size line */
	PH_CDATA,	/* chunk data */
	PH_CDATA_CR,	/* the CRLF after chunk data */
	PH_CDATA_LF,
	PH_TRAILER,	/* trailer fields after the last chunk, until CRLF CRLF */
	PH_DONE,
};

void rp_init(struct rp *p, int head_request)
{
	p->phase = PH_HEAD;
	p->status = 0;
	p->minor_version = 1;
	p->keep_alive = 0;
	p->no_body = head_request;
	p->content_length = -1;
	p->chunked = 0;
	p->body_bytes = 0;
	p->chunk_left = 0;
	p->chunk_hex = 0;
	p->head_len = 0;
}

int rp_started(const struct rp *p)
{
	return p->head_len > 0 || p->phase != PH_HEAD;
}

static int has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i = 0;

	while (i < n) {
		size_t s, e;
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && !strncasecmp(v + s, tok, tl))
			return 1;
	}
	return 0;
}

/* Parse the complete head s[0..len) (in p->head, or in place in the caller's
 * buffer).  Returns 0 or RP_BAD. */
static int parse_head(struct rp *p, const char *s, size_t len)
{
	const char *end = s + len, *nl;
	int conn_close = 0, conn_keep = 0;

	/* Status line: HTTP/1.x SP 3DIGIT [SP reason] */
	if (len < 12 || memcmp(s, "HTTP/1.", 7) || s[7] < '0' || s[7] > '9' || s[8] != ' ')
		return RP_BAD;
	if (s[9] < '0' || s[9] > '9' || s[10] < '0' || s[10] > '9' ||
	    s[11] < '0' || s[11] > '9')
		return RP_BAD;
	p->minor_version = s[7] - '0';
	p->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (p->status < 100)
		return RP_BAD;
	nl = memchr(s, '\n', len);
	if (!nl)
		return RP_BAD;
	for (s = nl + 1; s < end; s = nl + 1) {
		const char *colon, *v, *ve;
		nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl)
			return RP_BAD;
		ve = nl;
		if (ve > s && ve[-1] == '\r')
			ve--;
		if (ve == s)
			break;	/* the empty line */
		colon = memchr(s, ':', (size_t)(ve - s));
		if (!colon || colon == s)
			return RP_BAD;
		v = colon + 1;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
#define IS(name) ((size_t)(colon - s) == sizeof(name) - 1 && !strncasecmp(s, name, sizeof(name) - 1))
		if (IS("content-length")) {
			int64_t n = 0;
			if (v == ve)
				return RP_BAD;
			for (const char *c = v; c < ve; c++) {
				if (*c < '0' || *c > '9' || n > (INT64_MAX - 9) / 10)
					return RP_BAD;
				n = n * 10 + (*c - '0');
			}
			/* Two different lengths: framing is ambiguous (§6.3). */
			if (p->content_length >= 0 && p->content_length != n)
				return RP_BAD;
			p->content_length = n;
		} else if (IS("transfer-encoding")) {
			if (has_token(v, (size_t)(ve - v), "chunked"))
				p->chunked = 1;
		} else if (IS("connection")) {
			if (has_token(v, (size_t)(ve - v), "close"))
				conn_close = 1;
			if (has_token(v, (size_t)(ve - v), "keep-alive"))
				conn_keep = 1;
		}
#undef IS
	}
	if (p->minor_version == 0)
		p->keep_alive = conn_keep && !conn_close;
	else
		p->keep_alive = !conn_close;
	return 0;
}

/* After the head: choose how the body is delimited (RFC 9112 §6.3). */
static int start_body(struct rp *p)
{
	if (p->no_body || p->status == 204 || p->status == 304) {
		p->phase = PH_DONE;
	} else if (p->chunked) {
		p->phase = PH_CSIZE;
		p->chunk_left = 0;
		p->chunk_hex = 0;
	} else if (p->content_length >= 0) {
		p->phase = p->content_length ? PH_LENGTH : PH_DONE;
	} else {
		p->phase = PH_CLOSE;
		p->keep_alive = 0;
	}
	return p->phase == PH_DONE;
}

/* Length of the head at the start of b[0..n) — through the empty line,
 * LF (CR)? LF — or 0 when it does not end within n bytes.  Line feeds
 * before b + from are known not to end it. */
static size_t head_end(const char *b, size_t n, size_t from)
{
	const char *nl;

	while ((nl = memchr(b + from, '\n', n - from))) {
		size_t j = (size_t)(nl - b);
		if (j >= 1 && b[j - 1] == '\n')
			return j + 1;
		if (j >= 2 && b[j - 1] == '\r' && b[j - 2] == '\n')
			return j + 1;
		from = j + 1;
	}
	return 0;
}

/* A head of `len` bytes was parsed: skip an interim response (the real one
 * follows) or choose the body's framing.  1 when that ends the response. */
static int head_done(struct rp *p, size_t len)
{
	if (p->status >= 100 && p->status < 200 && p->status != 101) {
		rp_init(p, p->no_body);
		return 0;
	}
	p->head_len = len;
	return start_body(p);
}

int rp_feed(struct rp *p, const char *buf, size_t len, size_t *used)
{
	size_t i = 0;

	while (i < len) {
		switch (p->phase) {
		case PH_HEAD: {
			/* Common case: a whole head at the start of this piece is
			 * parsed where it lies, and body bytes are never copied. */
			if (p->head_len == 0) {
				size_t end = head_end(buf + i, len - i < RP_HEAD_MAX ? len - i : RP_HEAD_MAX, 0);
				if (end) {
					if (parse_head(p, buf + i, end) < 0)
						return RP_BAD;
					i += end;
					if (head_done(p, end)) {
						*used = i;
						return RP_DONE;
					}
					break;
				}
			}
			/* A head split over pieces: copy what may be head, and
			 * search only the new bytes, with 3 bytes of overlap. */
			size_t room = RP_HEAD_MAX - p->head_len, n = len - i, end;
			if (n > room)
				n = room;
			memcpy(p->head + p->head_len, buf + i, n);
			end = head_end(p->head, p->head_len + n, p->head_len > 3 ? p->head_len - 3 : 0);
			if (!end) {
				p->head_len += n;
				i += n;
				if (p->head_len == RP_HEAD_MAX)
					return RP_BAD;
				break;
			}
			i += end - p->head_len;
			if (parse_head(p, p->head, end) < 0)
				return RP_BAD;
			if (head_done(p, end)) {
				*used = i;
				return RP_DONE;
			}
			break;
		}
		case PH_LENGTH: {
			uint64_t left = (uint64_t)p->content_length - p->body_bytes;
			size_t n = len - i;
			if (n > left)
				n = (size_t)left;
			p->body_bytes += n;
			i += n;
			if (p->body_bytes == (uint64_t)p->content_length) {
				p->phase = PH_DONE;
				*used = i;
				return RP_DONE;
			}
			break;
		}
		case PH_CLOSE:
			p->body_bytes += len - i;
			i = len;
			break;
		case PH_CSIZE: {
			char c = buf[i++];
			int d = -1;
			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (c >= 'a' && c <= 'f')
				d = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			if (d >= 0 && p->chunk_hex >= 0) {
				if (p->chunk_left >> 56)
					return RP_BAD;
				p->chunk_left = p->chunk_left * 16 + (uint64_t)d;
				p->chunk_hex++;
			} else if (c == '\r') {
				p->phase = PH_CSIZE_LF;
			} else if (c == '\n') {
				goto size_line_done;
			} else if (p->chunk_hex > 0) {
				p->chunk_hex = -1;	/* extension: skip to end of line */
			} else if (p->chunk_hex == 0) {
				return RP_BAD;
			}
			break;
		}
		case PH_CSIZE_LF:
			if (buf[i++] != '\n')
				return RP_BAD;
		size_line_done:
			if (p->chunk_hex == 0)
				return RP_BAD;
			p->chunk_hex = 0;
			if (p->chunk_left == 0) {
				p->phase = PH_TRAILER;
				p->head_len = 0;	/* reuse as a line counter */
			} else {
				p->phase = PH_CDATA;
			}
			break;
		case PH_CDATA: {
			size_t n = len - i;
			if (n > p->chunk_left)
				n = (size_t)p->chunk_left;
			p->chunk_left -= n;
			p->body_bytes += n;
			i += n;
			if (!p->chunk_left)
				p->phase = PH_CDATA_CR;
			break;
		}
		case PH_CDATA_CR:
			if (buf[i] == '\r') {
				i++;
				p->phase = PH_CDATA_LF;
				break;
			}
			/* a bare LF */
			__attribute__((fallthrough));
		case PH_CDATA_LF:
			if (buf[i++] != '\n')
				return RP_BAD;
			p->phase = PH_CSIZE;
			break;
		case PH_TRAILER: {
			/* head_len counts the bytes of the current trailer line
			 * other than CR; an empty line ends the message. */
			char c = buf[i++];
			if (c == '\n') {
				if (p->head_len == 0) {
					p->phase = PH_DONE;
					*used = i;
					return RP_DONE;
				}
				p->head_len = 0;
			} else if (c != '\r') {
				p->head_len++;
			}
			break;
		}
		case PH_DONE:
		default:
			*used = i;
			return RP_DONE;
		}
	}
	*used = len;
	return RP_MORE;
}

int rp_eof(struct rp *p)
{
	if (p->phase == PH_CLOSE) {
		p->phase = PH_DONE;
		return RP_DONE;
	}
	return p->phase == PH_DONE ? RP_DONE : RP_BAD;
}
