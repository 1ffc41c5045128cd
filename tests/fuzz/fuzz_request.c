/* fuzz_request — libFuzzer harness for the request-head parser and the
 * header helpers the server feeds with what it parsed (http.h).
 *
 * Beyond "no crash under ASan/UBSan" it checks the contract:
 *   - a success lies inside the input, every field points into it, names
 *     are tokens, values carry no CR/LF/NUL and no edge whitespace;
 *   - the prefix rule: any prefix of the input parses to HP_INCOMPLETE or
 *     to the whole input's answer (the server re-parses as bytes arrive);
 *   - Range answers are inside the representation, range sets are
 *     bounded, in the file and apart, and their multipart length adds up;
 *     date round-trips; decoded paths hold no "..", NUL or backslash;
 *   - preconditions and body framing give one of their documented answers;
 *   - the chunked discarder (on the bytes after a chunked head, and on the
 *     raw input) gives the same answer at the same byte whole, byte by
 *     byte and in two pieces, never claims bytes it was not given, and
 *     never passes its limit.
 * A violated property aborts, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_request: %s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static int inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_path(const char *t, size_t n)
{
	char out[4200];
	int ts = -1;
	int r = hp_decode_path(t, n, out, sizeof(out), &ts);

	CHECK(r >= -3);
	if (r < 0)
		return;
	CHECK((size_t)r < sizeof(out) && out[r] == '\0' && strlen(out) == (size_t)r);
	CHECK(ts == 0 || ts == 1);
	CHECK(r == 0 || (out[0] != '/' && out[r - 1] != '/'));
	CHECK(!strchr(out, '\\') && !strstr(out, "//"));
	CHECK(strcmp(out, "..") && strncmp(out, "../", 3) && !strstr(out, "/../"));
	CHECK(r < 3 || strcmp(out + r - 3, "/.."));
	(void)hp_mime_type(out, (size_t)r);
}

static void check_value_helpers(const struct hp_request *req)
{
	static const uint64_t sizes[] = { 0, 1, 2, 100, 1ull << 40, UINT64_MAX };
	const struct hp_header *h;

	if ((h = hp_find_header(req, "range"))) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			struct hp_ranges set;
			uint64_t data = 0;
			int r = hp_parse_ranges(h->value, h->value_len, sizes[i], &set);
			CHECK(r >= -1 && r <= 1);
			if (r != 1)
				continue;
			CHECK(set.n >= 1 && set.n <= HP_MAX_RANGES);
			for (unsigned k = 0; k < set.n; k++) {
				CHECK(set.r[k].first <= set.r[k].last && set.r[k].last < sizes[i]);
				for (unsigned m = 0; m < set.n; m++)
					if (m != k && set.r[m].first > set.r[k].last)
						CHECK(set.r[m].first - set.r[k].last - 1 >= HP_RANGE_GAP_BYTES);
					else if (m != k)
						CHECK(set.r[m].last < set.r[k].first);
				data += set.r[k].last - set.r[k].first + 1;
			}
			if (sizes[i] < (1ull << 40)) {
				char b[HP_BOUNDARY_BYTES];
				hp_multipart_boundary(sizes[i], b);
				CHECK(data <= sizes[i]);
				CHECK(hp_multipart_length(&set, b, "text/plain", sizes[i]) >
				      data + set.n * 60);
			}
		}
	}
	{
		static const char tags[2][16] = { "\"5e0d5da5-c\"", "W/\"5e0d5da5-c\"" };
		struct hp_conditions c;
		hp_conditions_from_request(req, &c);
		for (int g = 0; g < 2; g++)
			for (int t = 0; t < 2; t++) {
				enum hp_precondition p = hp_evaluate_preconditions(
					&c, g, tags[t], strlen(tags[t]), 1577934245);
				CHECK(p == HP_PRE_PROCEED || p == HP_PRE_FULL ||
				      p == HP_PRE_NOT_MODIFIED || p == HP_PRE_FAILED);
				/* nothing passes If-Match on a weak tag but "*" */
				if (t == 1 && c.if_match && p != HP_PRE_FAILED)
					CHECK(hp_etag_match_strong(c.if_match, c.if_match_len,
								   tags[t], strlen(tags[t])) == 1);
			}
	}
	if ((h = hp_find_header(req, "if-modified-since"))) {
		time_t t;
		if (hp_parse_http_date(h->value, h->value_len, &t) == 0) {
			char d[30];
			time_t t2;
			CHECK(hp_format_http_date(t, d) == 29);
			/* A leap second normalises to the next minute. */
			CHECK(hp_parse_http_date(d, 29, &t2) == 0 && t2 == t);
		}
	}
	if ((h = hp_find_header(req, "if-none-match"))) {
		static const char tag[] = "\"5e0d5e95-c\"";
		int m = hp_etag_match(h->value, h->value_len, tag, sizeof(tag) - 1);
		CHECK(m == 0 || m == 1);
	}
	if ((h = hp_find_header(req, "connection"))) {
		CHECK(hp_has_token(h->value, h->value_len, "close") <= 1);
		CHECK(hp_has_token(h->value, h->value_len, "keep-alive") <= 1);
	}
	CHECK(hp_count_header(req, "host") <= req->num_headers);
}

/* The chunked discarder on buf[0..len): whole, byte by byte, in two
 * pieces; same answer at the same offset every way. */
static void check_chunked(const char *buf, size_t len, uint64_t max)
{
	struct hp_chunked d;
	size_t used, off = 0, u = 0;
	int whole, r = HP_INCOMPLETE;

	memset(&d, 0, sizeof(d));
	whole = hp_chunked_discard(&d, buf, len, max, &used);
	CHECK(whole == 1 || whole == HP_INCOMPLETE || whole == HP_BAD || whole == HP_TOO_LARGE);
	CHECK(used <= len);
	CHECK(whole != HP_INCOMPLETE || used == len);
	CHECK(d.body_bytes <= max);
	if (whole == 1)
		CHECK(used >= 5 && buf[used - 1] == '\n' && buf[used - 2] == '\r');
	if (whole != HP_INCOMPLETE)	/* the end is final */
		CHECK(hp_chunked_discard(&d, buf, len, max, &u) == whole && u == 0);

	memset(&d, 0, sizeof(d));
	for (off = 0; off < len; off++) {
		r = hp_chunked_discard(&d, buf + off, 1, max, &u);
		if (r != HP_INCOMPLETE)
			break;
		CHECK(u == 1);
	}
	CHECK(r == whole);
	if (r != HP_INCOMPLETE)
		CHECK(off + u == used);

	memset(&d, 0, sizeof(d));
	r = hp_chunked_discard(&d, buf, len / 2, max, &u);
	if (r == HP_INCOMPLETE) {
		CHECK(u == len / 2);
		r = hp_chunked_discard(&d, buf + len / 2, len - len / 2, max, &u);
		u += len / 2;
	}
	CHECK(r == whole && u == used);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* libFuzzer's buffer is exactly size bytes: a read past it is an
	 * ASan report.  Keep our own copy to prove nothing writes to it. */
	const char *buf = (const char *)data;
	static struct hp_request req, req2;
	int r = hp_parse_request(buf, size, &req);

	CHECK(r > 0 || r == HP_INCOMPLETE || r == HP_BAD || r == HP_TOO_MANY ||
	      r == HP_BAD_VERSION);
	if (r > 0) {
		CHECK((size_t)r <= size);
		CHECK(buf[r - 1] == '\n');
		CHECK(req.num_headers <= HP_MAX_HEADERS);
		CHECK(req.minor_version == 0 || req.minor_version == 1);
		CHECK(inside(req.method, req.method_len, buf, (size_t)r) && req.method_len > 0);
		for (size_t i = 0; i < req.method_len; i++)
			CHECK(is_tchar((unsigned char)req.method[i]));
		CHECK(inside(req.target, req.target_len, buf, (size_t)r) && req.target_len > 0);
		for (size_t i = 0; i < req.target_len; i++)
			CHECK((unsigned char)req.target[i] > 0x20 && req.target[i] != 0x7f);
		for (size_t i = 0; i < req.num_headers; i++) {
			const struct hp_header *h = &req.headers[i];
			CHECK(inside(h->name, h->name_len, buf, (size_t)r) && h->name_len > 0);
			CHECK(inside(h->value, h->value_len, buf, (size_t)r));
			for (size_t k = 0; k < h->name_len; k++)
				CHECK(is_tchar((unsigned char)h->name[k]));
			for (size_t k = 0; k < h->value_len; k++) {
				unsigned char c = (unsigned char)h->value[k];
				CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
			}
			if (h->value_len)
				CHECK(h->value[0] != ' ' && h->value[0] != '\t' &&
				      h->value[h->value_len - 1] != ' ' &&
				      h->value[h->value_len - 1] != '\t');
		}
		check_path(req.target, req.target_len);
		check_value_helpers(&req);
		{
			uint64_t blen = 7;
			int f = hp_body_framing(&req, 4096, &blen);
			CHECK(f == HP_BODY_NONE || f == HP_BODY_LENGTH || f == HP_BODY_CHUNKED ||
			      f == HP_BAD || f == HP_TOO_LARGE || f == HP_UNSUPPORTED);
			if (f == HP_BODY_LENGTH)
				CHECK(blen <= 4096);
			if (f == HP_BODY_CHUNKED)
				check_chunked(buf + r, size - (size_t)r, 4096);
		}
		/* Bytes after the head do not change the answer. */
		if ((size_t)r < size) {
			CHECK(hp_parse_request(buf, (size_t)r, &req2) == r);
			CHECK(req2.num_headers == req.num_headers);
		}
	}
	/* Prefix rule, on a few cut points (all of them would be O(n^2)). */
	if (size > 0) {
		size_t cuts[4] = { size - 1, size / 2, size / 3, (size * 7) / 8 };
		for (int i = 0; i < 4; i++) {
			int p = hp_parse_request(buf, cuts[i], &req2);
			if (r > 0 && cuts[i] >= (size_t)r)
				CHECK(p == r);
			else
				CHECK(p == HP_INCOMPLETE || p == r);
		}
	}
	/* The target grammar is shared with paths: fuzz the decoder on the
	 * raw input too, whatever the parser thought of it. */
	check_path(buf, size);
	/* ... and the chunked discarder, with a limit the input can reach. */
	check_chunked(buf, size, size > 3 ? size - 3 : size);
	return 0;
}
