/* test_http — unit tests for user/http.c.
 *
 * Every input is fed whole, then every prefix of it is placed so that its
 * last byte sits right before a PROT_NONE page: an over-read is a SIGSEGV
 * (and ASan catches the heap copies).  A prefix may only answer
 * HP_INCOMPLETE or the final answer, which is what lets the server re-run
 * the parser as bytes trickle in.
 */
#include "http.h"
#include "tap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define S(lit) lit, (sizeof(lit) - 1)

static char *guard_in, *guard_out;
static size_t page_bytes;

static char *guard_region(void)
{
	char *p = mmap(NULL, 2 * page_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || mprotect(p + page_bytes, page_bytes, PROT_NONE) < 0) {
		perror("mmap/mprotect");
		exit(1);
	}
	return p;
}

/* Copy s[0..n) so that it ends exactly at the PROT_NONE page. */
static const char *at_guard(const char *s, size_t n)
{
	char *d;

	if (n > page_bytes) {
		fprintf(stderr, "input too long for guard page\n");
		exit(1);
	}
	d = guard_in + page_bytes - n;
	memcpy(d, s, n);
	return d;
}

/* An exact-size heap copy, so ASan sees any over-read as well. */
static char *heap_copy(const char *s, size_t n)
{
	char *d = malloc(n ? n : 1);
	if (!d)
		exit(1);
	memcpy(d, s, n);
	return d;
}

static const char *rc_name(int r)
{
	static char b[32];
	switch (r) {
	case HP_INCOMPLETE: return "INCOMPLETE";
	case HP_BAD: return "BAD";
	case HP_TOO_MANY: return "TOO_MANY";
	case HP_BAD_VERSION: return "BAD_VERSION";
	}
	snprintf(b, sizeof(b), "%d", r);
	return b;
}

/* Prefix rule: every prefix of s gives INCOMPLETE or `expect`; a success
 * may only appear once the whole head is there.  Returns the first
 * offending prefix length, or -1 if none. */
static long prefix_violation(const char *s, size_t len, int expect, int *got)
{
	struct hp_request req;

	for (size_t k = 0; k <= len; k++) {
		int r = hp_parse_request(at_guard(s, k), k, &req);
		int want_ok;
		if (k == len)
			want_ok = r == expect;
		else if (expect > 0)
			want_ok = (long)k < expect ? r == HP_INCOMPLETE : r == expect;
		else
			want_ok = r == HP_INCOMPLETE || r == expect;
		if (!want_ok) {
			*got = r;
			return (long)k;
		}
	}
	return -1;
}

/* Three assertions: whole (heap), whole (guard), every prefix (guard). */
static void check_req(const char *name, const char *s, size_t len, int expect)
{
	struct hp_request req;
	char *h = heap_copy(s, len);
	int r, got = 0;
	long k;

	r = hp_parse_request(h, len, &req);
	ok(r == expect, "request %s: whole -> %s (got %s)", name, rc_name(expect), rc_name(r));
	free(h);
	r = hp_parse_request(at_guard(s, len), len, &req);
	ok(r == expect, "request %s: whole at guard page -> %s (got %s)", name,
	   rc_name(expect), rc_name(r));
	k = prefix_violation(s, len, expect, &got);
	ok(k < 0, "request %s: byte by byte at guard page%s%ld %s", name,
	   k < 0 ? "" : ", first bad prefix ", k < 0 ? 0L : k, k < 0 ? "" : rc_name(got));
}

static int field_is(const char *p, size_t n, const char *want)
{
	return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

#define WHOLE 0		/* expected return is the input length */

struct req_case {
	const char *name;
	const char *s;
	size_t len;
	int expect;
};

static const struct req_case req_cases[] = {
	/* valid */
	{ "simple GET", S("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), WHOLE },
	{ "HTTP/1.0 no fields", S("GET /x HTTP/1.0\r\n\r\n"), WHOLE },
	{ "bare LF line ends", S("GET /x HTTP/1.1\nHost: a\n\n"), WHOLE },
	{ "mixed CRLF and LF", S("GET /x HTTP/1.1\r\nHost: a\n\r\n"), WHOLE },
	{ "one leading CRLF", S("\r\nGET / HTTP/1.1\r\n\r\n"), WHOLE },
	{ "two leading empty lines", S("\r\n\nGET / HTTP/1.1\r\n\r\n"), WHOLE },
	{ "HTTP/1.9 accepted", S("GET / HTTP/1.9\r\n\r\n"), WHOLE },
	{ "OWS around value", S("GET / HTTP/1.1\r\nHost: \t a b \t \r\n\r\n"), WHOLE },
	{ "empty value", S("GET / HTTP/1.1\r\nX-Empty:\r\nX-Blank:  \t \r\n\r\n"), WHOLE },
	{ "obs-text in value", S("GET / HTTP/1.1\r\nX-Name: caf\xc3\xa9 \xff\r\n\r\n"), WHOLE },
	{ "HTAB inside value", S("GET / HTTP/1.1\r\nX: a\tb\r\n\r\n"), WHOLE },
	{ "token method with dash", S("M-SEARCH * HTTP/1.1\r\n\r\n"), WHOLE },
	{ "odd tchar method", S("!#$%&'*+-.^_`|~09az / HTTP/1.1\r\n\r\n"), WHOLE },
	{ "obs-text in target", S("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n"), WHOLE },
	{ "absolute-form target", S("GET http://h/a?b=c HTTP/1.1\r\nHost: h\r\n\r\n"), WHOLE },
	{ "colon inside value", S("GET / HTTP/1.1\r\nHost: a:8080\r\nX: a: b\r\n\r\n"), WHOLE },
	{ "browser-like request",
	  S("GET /static/app.js?v=3 HTTP/1.1\r\n"
	    "Host: localhost:8080\r\n"
	    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
	    "Accept: */*\r\n"
	    "Accept-Language: en-US,en;q=0.5\r\n"
	    "Accept-Encoding: gzip, deflate, br\r\n"
	    "Connection: keep-alive\r\n"
	    "Referer: http://localhost:8080/\r\n"
	    "If-None-Match: \"abc-123\"\r\n"
	    "Cache-Control: max-age=0\r\n\r\n"), WHOLE },
	{ "head followed by body bytes", S("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), 38 },

	/* malformed request line */
	{ "double space after method", S("GET  / HTTP/1.1\r\n\r\n"), HP_BAD },
	{ "double space before version", S("GET /  HTTP/1.1\r\n\r\n"), HP_BAD },
	{ "no version (0.9 style)", S("GET /\r\n\r\n"), HP_BAD },
	{ "leading space", S(" GET / HTTP/1.1\r\n\r\n"), HP_BAD },
	{ "three leading empty lines", S("\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n"), HP_BAD },
	{ "non-token method", S("GE(T / HTTP/1.1\r\n\r\n"), HP_BAD },
	{ "non-ASCII method", S("G\xc3\x89T / HTTP/1.1\r\n\r\n"), HP_BAD },
	{ "NUL in method", S("GE\0T / HTTP/1.1\r\n\r\n"), HP_BAD },
	{ "NUL in target", S("GET /a\0b HTTP/1.1\r\n\r\n"), HP_BAD },
	{ "TAB in target", S("GET /a\tb HTTP/1.1\r\n\r\n"), HP_BAD },
	{ "DEL in target", S("GET /a\x7f HTTP/1.1\r\n\r\n"), HP_BAD },
	{ "lowercase http", S("GET / http/1.1\r\n\r\n"), HP_BAD },
	{ "trailing space after version", S("GET / HTTP/1.1 \r\n\r\n"), HP_BAD },
	{ "version without dot", S("GET / HTTP/11\r\n\r\n"), HP_BAD },
	{ "two-digit minor", S("GET / HTTP/1.10\r\n\r\n"), HP_BAD },
	{ "two-digit major", S("GET / HTTP/10.1\r\n\r\n"), HP_BAD },
	{ "version junk HTTP/2.0x", S("GET / HTTP/2.0x\r\n\r\n"), HP_BAD },
	{ "bare CR after version", S("GET / HTTP/1.1\rHost: a\r\n\r\n"), HP_BAD },
	{ "CR CR LF after version", S("GET / HTTP/1.1\r\r\n\r\n"), HP_BAD },

	/* versions */
	{ "HTTP/2.0", S("GET / HTTP/2.0\r\n\r\n"), HP_BAD_VERSION },
	{ "HTTP/0.9", S("GET / HTTP/0.9\r\n\r\n"), HP_BAD_VERSION },
	{ "HTTP/3.0", S("GET / HTTP/3.0\r\nHost: a\r\n\r\n"), HP_BAD_VERSION },
	{ "HTTP/9.9 then junk", S("GET / HTTP/9.9\r\n\x01\r\n"), HP_BAD_VERSION },

	/* smuggling and field syntax */
	{ "space before colon", S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), HP_BAD },
	{ "tab before colon", S("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), HP_BAD },
	{ "Transfer-Encoding space colon",
	  S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"), HP_BAD },
	{ "obs-fold SP", S("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), HP_BAD },
	{ "obs-fold HTAB", S("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), HP_BAD },
	{ "space before first field", S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), HP_BAD },
	{ "NUL in value", S("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"), HP_BAD },
	{ "NUL in name", S("GET / HTTP/1.1\r\nX\0Y: a\r\n\r\n"), HP_BAD },
	{ "bare CR in value", S("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), HP_BAD },
	{ "bare CR ends value", S("GET / HTTP/1.1\r\nX: a\rY: b\r\n\r\n"), HP_BAD },
	{ "bare CR as empty line", S("GET / HTTP/1.1\r\nX: a\r\n\rX"), HP_BAD },
	{ "VT in value", S("GET / HTTP/1.1\r\nX: a\x0b\r\n\r\n"), HP_BAD },
	{ "DEL in value", S("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n"), HP_BAD },
	{ "ESC in value", S("GET / HTTP/1.1\r\nX: \x1b[0m\r\n\r\n"), HP_BAD },
	{ "field without colon", S("GET / HTTP/1.1\r\nHost\r\n\r\n"), HP_BAD },
	{ "empty field name", S("GET / HTTP/1.1\r\n: a\r\n\r\n"), HP_BAD },
	{ "non-token in name", S("GET / HTTP/1.1\r\nX(Y): a\r\n\r\n"), HP_BAD },
	{ "obs-text in name", S("GET / HTTP/1.1\r\nX\xc3\xa9: a\r\n\r\n"), HP_BAD },

	/* incomplete */
	{ "empty input", S(""), HP_INCOMPLETE },
	{ "method only", S("GET"), HP_INCOMPLETE },
	{ "no empty line yet", S("GET / HTTP/1.1\r\nHost: a\r\n"), HP_INCOMPLETE },
	{ "ends in CR of empty line", S("GET / HTTP/1.1\r\nHost: a\r\n\r"), HP_INCOMPLETE },
	{ "ends in the version", S("GET / HTTP/1."), HP_INCOMPLETE },
	{ "ends after two empty lines", S("\r\n\r\n"), HP_INCOMPLETE },
};

static void test_request_cases(void)
{
	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		const struct req_case *c = &req_cases[i];
		int expect = c->expect == WHOLE ? (int)c->len : c->expect;
		check_req(c->name, c->s, c->len, expect);
	}
}

static void test_request_fields(void)
{
	struct hp_request req;
	const struct hp_header *h;
	static const char r1[] =
		"GET /a/b?c=d HTTP/1.1\r\nHost:  example.com \r\n"
		"X-Empty:\r\nconnection: Keep-Alive, Upgrade\r\nHOST: second\r\n\r\n";
	static const char r2[] = "\n\nHEAD /x HTTP/1.0\nX: \tv\t\n\n";
	static const char r3[] = "GET / HTTP/1.7\r\n\r\n";
	int r;

	r = hp_parse_request(r1, sizeof(r1) - 1, &req);
	ok(r == (int)sizeof(r1) - 1, "fields: r1 parsed");
	ok(field_is(req.method, req.method_len, "GET"), "fields: method GET");
	ok(field_is(req.target, req.target_len, "/a/b?c=d"), "fields: target kept raw");
	ok(req.minor_version == 1, "fields: minor 1");
	ok(req.num_headers == 4, "fields: 4 headers (got %zu)", req.num_headers);
	ok(field_is(req.headers[0].name, req.headers[0].name_len, "Host") &&
	   field_is(req.headers[0].value, req.headers[0].value_len, "example.com"),
	   "fields: Host value stripped");
	ok(field_is(req.headers[1].name, req.headers[1].name_len, "X-Empty") &&
	   req.headers[1].value_len == 0, "fields: empty value has length 0");
	h = hp_find_header(&req, "host");
	ok(h == &req.headers[0], "find_header: case-insensitive, first of duplicates");
	h = hp_find_header(&req, "CONNECTION");
	ok(h && hp_has_token(h->value, h->value_len, "keep-alive"),
	   "find_header + has_token: keep-alive");
	ok(h && hp_has_token(h->value, h->value_len, "upgrade"), "has_token: second token");
	ok(h && !hp_has_token(h->value, h->value_len, "close"), "has_token: absent token");
	ok(hp_find_header(&req, "x-missing") == NULL, "find_header: absent -> NULL");
	ok(hp_find_header(&req, "hos") == NULL, "find_header: prefix is not a match");

	r = hp_parse_request(r2, sizeof(r2) - 1, &req);
	ok(r == (int)sizeof(r2) - 1, "fields: r2 with leading LFs parsed");
	ok(field_is(req.method, req.method_len, "HEAD") && req.minor_version == 0,
	   "fields: HEAD HTTP/1.0");
	ok(req.num_headers == 1 && field_is(req.headers[0].value, req.headers[0].value_len, "v"),
	   "fields: tabs stripped from value");

	r = hp_parse_request(r3, sizeof(r3) - 1, &req);
	ok(r > 0 && req.minor_version == 1, "fields: HTTP/1.7 reported as minor 1");

	/* A failed parse must leave num_headers safe to iterate. */
	r = hp_parse_request(S("GET / HTTP/1.1\r\nX: a\r\n"), &req);
	ok(r == HP_INCOMPLETE && hp_find_header(&req, "x") == NULL,
	   "fields: after INCOMPLETE, find_header finds nothing");
}

static void test_has_token(void)
{
	ok(hp_has_token(S("close"), "close") == 1, "has_token: exact");
	ok(hp_has_token(S("Close"), "close") == 1, "has_token: case-insensitive");
	ok(hp_has_token(S(" , keep-alive ,\tclose , "), "close") == 1, "has_token: OWS and empty elements");
	ok(hp_has_token(S("closed"), "close") == 0, "has_token: longer token is not a match");
	ok(hp_has_token(S("xclose"), "close") == 0, "has_token: suffix is not a match");
	ok(hp_has_token(S("clo"), "close") == 0, "has_token: prefix is not a match");
	ok(hp_has_token(S(""), "close") == 0, "has_token: empty value");
	ok(hp_has_token(at_guard("keep-alive", 10), 10, "keep-alive") == 1,
	   "has_token: value at guard page");
}

static void test_pipelined(void)
{
	static const char two[] =
		"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: y\r\n\r\n";
	const size_t first_len = 28;
	struct hp_request req;
	int r;

	r = hp_parse_request(two, sizeof(two) - 1, &req);
	ok(r == (int)first_len, "pipelined: first call returns first head length (got %d)", r);
	ok(field_is(req.target, req.target_len, "/a"), "pipelined: first target /a");
	r = hp_parse_request(two + first_len, sizeof(two) - 1 - first_len, &req);
	ok(r == (int)(sizeof(two) - 1 - first_len), "pipelined: second head parsed from the rest");
	ok(field_is(req.target, req.target_len, "/b") &&
	   field_is(req.headers[0].value, req.headers[0].value_len, "y"),
	   "pipelined: second target /b, Host y");
	check_req("pipelined pair", two, sizeof(two) - 1, (int)first_len);
	check_req("pipelined with partial second", two, first_len + 7, (int)first_len);
	check_req("pipelined, bad second", S("GET /a HTTP/1.1\r\n\r\nGET  /b HTTP/1.1\r\n\r\n"), 19);
}

/* n header fields; returns the length written. */
static size_t build_many(char *buf, size_t cap, int n)
{
	size_t o = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, cap - o, "X-H%d: v%d\r\n", i, i);
	o += (size_t)snprintf(buf + o, cap - o, "\r\n");
	return o;
}

static void test_many_headers(void)
{
	char buf[2048];
	struct hp_request req;
	size_t n;
	int r;

	n = build_many(buf, sizeof(buf), HP_MAX_HEADERS);
	r = hp_parse_request(buf, n, &req);
	ok(r == (int)n && req.num_headers == HP_MAX_HEADERS, "many headers: 64 accepted");
	ok(field_is(req.headers[63].name, req.headers[63].name_len, "X-H63") &&
	   field_is(req.headers[63].value, req.headers[63].value_len, "v63"),
	   "many headers: the 64th is stored");
	check_req("64 headers", buf, n, (int)n);

	n = build_many(buf, sizeof(buf), HP_MAX_HEADERS + 1);
	check_req("65 headers", buf, n, HP_TOO_MANY);
	n = build_many(buf, sizeof(buf), HP_MAX_HEADERS + 30);
	r = hp_parse_request(buf, n, &req);
	ok(r == HP_TOO_MANY, "many headers: 94 -> TOO_MANY");
}

/* Deterministic mutation fuzzing: the prefix rule and the guard page must
 * hold for arbitrary bytes, not just for the inputs we thought of. */
static void test_fuzz_prefix(void)
{
	static const char *const seeds[] = {
		"GET /a/b HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n",
		"\nHEAD / HTTP/1.0\nX: y\n\n",
		"GET / HTTP/2.0\r\nA: b\r\n\r\n",
	};
	static const unsigned char interesting[] = {
		'\r', '\n', ' ', '\t', ':', 0, 0x7f, 0x80, 0xff, '/', 'H', '1', '2', '.'
	};
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	struct hp_request req;
	int bad = 0, total = 0, succ = 0;
	char buf[128];

	for (size_t si = 0; si < sizeof(seeds) / sizeof(seeds[0]); si++) {
		size_t len = strlen(seeds[si]);
		for (int iter = 0; iter < 300; iter++) {
			memcpy(buf, seeds[si], len);
			int muts = 1 + (int)((x >> 60) % 3);
			for (int m = 0; m < muts; m++) {
				x = x * 6364136223846793005ULL + 1442695040888963407ULL;
				size_t pos = (size_t)(x >> 33) % len;
				unsigned char b = (x >> 20) & 1 ?
					interesting[(x >> 24) % sizeof(interesting)] :
					(unsigned char)(x >> 40);
				buf[pos] = (char)b;
			}
			int final = hp_parse_request(at_guard(buf, len), len, &req);
			int got;
			if (final > 0)
				succ++;
			/* A success must be consistent with its own fields. */
			if (final > 0 && (req.num_headers > HP_MAX_HEADERS ||
					  req.minor_version < 0 || req.minor_version > 1))
				bad++;
			if (prefix_violation(buf, len, final, &got) >= 0)
				bad++;
			total++;
		}
	}
	ok(bad == 0, "fuzz: %d mutated requests keep the prefix rule (%d bad, %d parsed ok)",
	   total, bad, succ);
}

/* ---------------- hp_decode_path ---------------- */

struct path_case {
	const char *target;
	size_t len;
	size_t out_size;	/* 0 -> 256 */
	int ret;
	const char *out;
	int trailing;
};

static const struct path_case path_cases[] = {
	{ S("/"), 0, 0, "", 1 },
	{ S("/index.html"), 0, 10, "index.html", 0 },
	{ S("/dir/"), 0, 3, "dir", 1 },
	{ S("/dir"), 0, 3, "dir", 0 },
	{ S("/a/b/c.txt"), 0, 9, "a/b/c.txt", 0 },
	{ S("//a///b/./c"), 0, 5, "a/b/c", 0 },
	{ S("/a/./b/."), 0, 3, "a/b", 1 },
	{ S("/./"), 0, 0, "", 1 },
	{ S("/."), 0, 0, "", 1 },
	{ S("//"), 0, 0, "", 1 },
	{ S("/?q"), 0, 0, "", 1 },
	{ S("/a?b/../c"), 0, 1, "a", 0 },
	{ S("/a/?x=1"), 0, 1, "a", 1 },
	{ S("/a#frag"), 0, 1, "a", 0 },
	{ S("/a%20b"), 0, 3, "a b", 0 },
	{ S("/%41%62%6a%4A"), 0, 4, "AbjJ", 0 },
	{ S("/%e2%82%AC"), 0, 3, "\xe2\x82\xac", 0 },
	{ S("/caf\xc3\xa9"), 0, 5, "caf\xc3\xa9", 0 },
	{ S("/a%2Fb"), 0, 3, "a/b", 0 },
	{ S("/a%2f%2f%2fb%2F"), 0, 3, "a/b", 1 },
	{ S("/%2e/a"), 0, 1, "a", 0 },
	{ S("/..."), 0, 3, "...", 0 },
	{ S("/..a/a.."), 0, 7, "..a/a..", 0 },
	{ S("/.a/.b"), 0, 5, ".a/.b", 0 },
	{ S("/a%3fb"), 0, 3, "a?b", 0 },
	{ S("/a+b"), 0, 3, "a+b", 0 },
	/* forbidden */
	{ S("/%2e%2e"), 0, -2, NULL, 0 },
	{ S("/%2E%2e/etc/passwd"), 0, -2, NULL, 0 },
	{ S("/a/../b"), 0, -2, NULL, 0 },
	{ S("/.."), 0, -2, NULL, 0 },
	{ S("/../"), 0, -2, NULL, 0 },
	{ S("/a/.."), 0, -2, NULL, 0 },
	{ S("/a/%2e%2E/b"), 0, -2, NULL, 0 },
	{ S("/a/.%2e"), 0, -2, NULL, 0 },
	{ S("/..%2fetc"), 0, -2, NULL, 0 },
	{ S("/a/..?x"), 0, -2, NULL, 0 },
	{ S("/%00"), 0, -2, NULL, 0 },
	{ S("/a%00b"), 0, -2, NULL, 0 },
	{ S("/a\\b"), 0, -2, NULL, 0 },
	{ S("/a%5cb"), 0, -2, NULL, 0 },
	{ S("/..%5c"), 0, -2, NULL, 0 },
	{ S("/a%0ab"), 0, -2, NULL, 0 },
	{ S("/a%0D"), 0, -2, NULL, 0 },
	{ S("/a%7f"), 0, -2, NULL, 0 },
	{ S("/a%1F"), 0, -2, NULL, 0 },
	{ S("/a\x01"), 0, -2, NULL, 0 },
	{ S("/a\0b"), 0, -2, NULL, 0 },
	/* malformed */
	{ S("/%"), 0, -1, NULL, 0 },
	{ S("/%4"), 0, -1, NULL, 0 },
	{ S("/a%zz"), 0, -1, NULL, 0 },
	{ S("/%g0"), 0, -1, NULL, 0 },
	{ S("/%%41"), 0, -1, NULL, 0 },
	{ S("a/b"), 0, -1, NULL, 0 },
	{ S(""), 0, -1, NULL, 0 },
	{ S("*"), 0, -1, NULL, 0 },
	{ S("ftp://host/a"), 0, -1, NULL, 0 },
	{ S("http:/a"), 0, -1, NULL, 0 },
	{ S("http:"), 0, -1, NULL, 0 },
	/* absolute-form */
	{ S("http://example.com/a/b?q"), 0, 3, "a/b", 0 },
	{ S("HTTPS://Example.com:8080/x/"), 0, 1, "x", 1 },
	{ S("hTtP://host"), 0, 0, "", 1 },
	{ S("http://host?x=/a"), 0, 0, "", 1 },
	{ S("http://host#/a"), 0, 0, "", 1 },
	{ S("https://host/%2e%2e/x"), 0, -2, NULL, 0 },
	{ S("http://host/a%zz"), 0, -1, NULL, 0 },
	/* out too small (out_size counts the NUL) */
	{ S("/abc"), 3, -3, NULL, 0 },
	{ S("/abc"), 4, 3, "abc", 0 },
	{ S("/ab"), 2, -3, NULL, 0 },
	{ S("/ab"), 3, 2, "ab", 0 },
	{ S("/a"), 1, -3, NULL, 0 },
	{ S("/a"), 2, 1, "a", 0 },
	{ S("/"), 1, 0, "", 1 },
	{ S("//////a"), 2, 1, "a", 0 },
	{ S("/a/./b"), 4, 3, "a/b", 0 },
	{ S("/a/./b"), 3, -3, NULL, 0 },
	{ S("/ab/cd"), 5, -3, NULL, 0 },
	{ S("/ab/cd"), 6, 5, "ab/cd", 0 },
	{ S("/abc/d"), 5, -3, NULL, 0 },
	{ S("/%41%42%43"), 4, 3, "ABC", 0 },
};

static void test_decode_path(void)
{
	char heap_out[256];

	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		size_t osz = c->out_size ? c->out_size : sizeof(heap_out);
		char *t = heap_copy(c->target, c->len);
		int tr = -1, r, good;

		r = hp_decode_path(t, c->len, heap_out, osz, &tr);
		good = r == c->ret;
		if (good && r >= 0)
			good = strcmp(heap_out, c->out) == 0 && tr == c->trailing;
		ok(good, "decode_path %s (out_size %zu) -> %d '%s' ts=%d (got %d '%s' ts=%d)",
		   c->target, osz, c->ret, c->out ? c->out : "", c->trailing,
		   r, r >= 0 ? heap_out : "", tr);
		free(t);

		/* Input and output both end at a PROT_NONE page: a read past
		 * the target or a write past out_size faults. */
		char *gout = guard_out + page_bytes - osz;
		int r2 = hp_decode_path(at_guard(c->target, c->len), c->len, gout, osz, &tr);
		ok(r2 == r && (r2 < 0 || strcmp(gout, heap_out) == 0),
		   "decode_path %s at guard pages gives the same answer", c->target);
	}
	{
		int tr = 7;
		char o[1];
		ok(hp_decode_path(S("/"), o, 0, &tr) == -3, "decode_path: out_size 0 -> -3");
		ok(hp_decode_path(S("/x/"), o, sizeof(o), &tr) == -3 && tr == 0,
		   "decode_path: trailing_slash is 0 on error");
	}
}

/* ---------------- hp_parse_ranges: one range-spec ---------------- */

struct range_case {
	const char *v;
	size_t len;
	uint64_t size;
	int ret;
	uint64_t first, last;
};

static const struct range_case range_cases[] = {
	{ S("bytes=0-499"), 1000, 1, 0, 499 },
	{ S("bytes=500-"), 1000, 1, 500, 999 },
	{ S("bytes=-500"), 1000, 1, 500, 999 },
	{ S("bytes=-1"), 1000, 1, 999, 999 },
	{ S("bytes=-1000"), 1000, 1, 0, 999 },
	{ S("bytes=-2000"), 1000, 1, 0, 999 },
	{ S("bytes=-18446744073709551615"), 1000, 1, 0, 999 },
	{ S("bytes=0-0"), 1, 1, 0, 0 },
	{ S("bytes=0-"), 1, 1, 0, 0 },
	{ S("bytes=0-1999"), 1000, 1, 0, 999 },
	{ S("bytes=999-999"), 1000, 1, 999, 999 },
	{ S("bytes=999-"), 1000, 1, 999, 999 },
	{ S("bytes=0-18446744073709551615"), 1000, 1, 0, 999 },
	{ S("BYTES=1-2"), 1000, 1, 1, 2 },
	{ S("Bytes = 1-2"), 1000, 1, 1, 2 },
	{ S("  bytes=1-2 \t"), 1000, 1, 1, 2 },
	{ S("bytes=\t1-2"), 1000, 1, 1, 2 },
	{ S("bytes=0-499"), UINT64_MAX, 1, 0, 499 },
	{ S("bytes=-5"), UINT64_MAX, 1, UINT64_MAX - 5, UINT64_MAX - 1 },
	/* unsatisfiable */
	{ S("bytes=-0"), 1000, -1, 0, 0 },
	{ S("bytes=1000-"), 1000, -1, 0, 0 },
	{ S("bytes=1000-2000"), 1000, -1, 0, 0 },
	{ S("bytes=18446744073709551615-"), 1000, -1, 0, 0 },
	{ S("bytes=0-"), 0, -1, 0, 0 },
	{ S("bytes=0-0"), 0, -1, 0, 0 },
	{ S("bytes=-5"), 0, -1, 0, 0 },
	/* ignored */
	{ S("bytes=5-3"), 1000, 0, 0, 0 },
	{ S("bytes=5-3"), 0, 0, 0, 0 },
	/* two near ones coalesce (the lists: test_ranges) */
	{ S("bytes=0-1,3-4"), 1000, 1, 0, 4 },
	{ S("bytes=0-1, 3-4"), 1000, 1, 0, 4 },
	{ S("bytes=0 -1"), 1000, 0, 0, 0 },
	{ S("bytes=0- 1"), 1000, 0, 0, 0 },
	{ S("items=0-1"), 1000, 0, 0, 0 },
	{ S("bytes0-1"), 1000, 0, 0, 0 },
	{ S("byte=0-1"), 1000, 0, 0, 0 },
	{ S("bytesx=0-1"), 1000, 0, 0, 0 },
	{ S("bytes="), 1000, 0, 0, 0 },
	{ S("bytes=-"), 1000, 0, 0, 0 },
	{ S("bytes=--1"), 1000, 0, 0, 0 },
	{ S("bytes=a-b"), 1000, 0, 0, 0 },
	{ S("bytes=1-2x"), 1000, 0, 0, 0 },
	{ S("bytes=+1-2"), 1000, 0, 0, 0 },
	{ S("bytes=1"), 1000, 0, 0, 0 },
	{ S(""), 1000, 0, 0, 0 },
	{ S("bytes"), 1000, 0, 0, 0 },
	/* numbers past 2^64 saturate: a position beyond any file */
	{ S("bytes=18446744073709551616-"), 1000, -1, 0, 0 },
	{ S("bytes=99999999999999999999999-"), 1000, -1, 0, 0 },
	{ S("bytes=0-99999999999999999999"), 1000, 1, 0, 999 },
	{ S("bytes=10-18446744073709551616"), 1000, 1, 10, 999 },
	{ S("bytes=-99999999999999999999"), 1000, 1, 0, 999 },
	/* empty list elements are allowed (RFC 9110 §5.6.1) */
	{ S("bytes=0-1,"), 1000, 1, 0, 1 },
	{ S("bytes=0-1, ,"), 1000, 1, 0, 1 },
	{ S("bytes=0-1 , "), 1000, 1, 0, 1 },
	{ S("bytes=0-1,,3-4"), 1000, 1, 0, 4 },
};

static void test_range(void)
{
	for (size_t i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
		const struct range_case *c = &range_cases[i];
		struct hp_ranges set;
		int r = hp_parse_ranges(at_guard(c->v, c->len), c->len, c->size, &set);
		uint64_t f = r == 1 ? set.r[0].first : 12345, l = r == 1 ? set.r[0].last : 12345;
		int good = r == c->ret && (r != 1 || (set.n == 1 && f == c->first && l == c->last));
		ok(good, "range '%s' size %llu -> %d [%llu,%llu] (got %d [%llu,%llu])",
		   c->v, (unsigned long long)c->size, c->ret,
		   (unsigned long long)c->first, (unsigned long long)c->last, r,
		   (unsigned long long)f, (unsigned long long)l);
	}
}

/* ---------------- hp_parse_ranges ---------------- */

struct ranges_case {
	const char *v;
	uint64_t size;
	int ret;
	unsigned n;
	struct hp_range r[4];
};

static const struct ranges_case ranges_cases[] = {
	{ "bytes=0-1,5000-5001", 100000, 1, 2, { { 0, 1 }, { 5000, 5001 } } },
	/* order of the specs is kept (RFC 9110 §14.6) */
	{ "bytes=5000-5001,0-1", 100000, 1, 2, { { 5000, 5001 }, { 0, 1 } } },
	{ "bytes= 0-1 , 5000-5001 ,", 100000, 1, 2, { { 0, 1 }, { 5000, 5001 } } },
	{ "bytes=0-1,,5000-5001", 100000, 1, 2, { { 0, 1 }, { 5000, 5001 } } },
	{ "bytes=0-1,-2", 100000, 1, 2, { { 0, 1 }, { 99998, 99999 } } },
	{ "bytes=-2,0-1", 100000, 1, 2, { { 99998, 99999 }, { 0, 1 } } },
	/* overlapping, touching and near ranges coalesce */
	{ "bytes=0-10,5-15", 100000, 1, 1, { { 0, 15 } } },
	{ "bytes=0-9,10-19", 100000, 1, 1, { { 0, 19 } } },
	{ "bytes=0-1,81-82", 100000, 1, 1, { { 0, 82 } } },	/* gap 79 */
	{ "bytes=0-1,82-83", 100000, 1, 2, { { 0, 1 }, { 82, 83 } } },	/* gap 80 */
	{ "bytes=82-83,0-1", 100000, 1, 2, { { 82, 83 }, { 0, 1 } } },
	{ "bytes=81-82,0-1", 100000, 1, 1, { { 0, 82 } } },
	{ "bytes=0-60000,0-60000,0-60000", 100000, 1, 1, { { 0, 60000 } } },
	{ "bytes=0-,0-,0-,0-,0-,0-,0-,0-", 100000, 1, 1, { { 0, 99999 } } },
	{ "bytes=50-59,0-9", 100000, 1, 1, { { 0, 59 } } },
	/* a merge takes the place of the earliest range it absorbs */
	{ "bytes=2000-2009,1000-1009,0-9,5-1500", 100000, 1, 2,
	  { { 2000, 2009 }, { 0, 1500 } } },
	/* the merged range grows into ranges it passed over */
	{ "bytes=0-9,200-209,100-109,10-150", 100000, 1, 1, { { 0, 209 } } },
	{ "bytes=0-9,1000-1009,2000-2009,990-2000", 100000, 1, 2, { { 0, 9 }, { 990, 2009 } } },
	{ "bytes=0-9,1000-1009,2000-2009,80-2000", 100000, 1, 1, { { 0, 2009 } } },
	{ "bytes=1000-1009,0-9,3000-3009,2000-2009,5-2001", 100000, 1, 2,
	  { { 0, 2009 }, { 3000, 3009 } } },
	/* unsatisfiable specs are dropped */
	{ "bytes=0-1,200000-300000", 100000, 1, 1, { { 0, 1 } } },
	{ "bytes=-0,0-1", 100000, 1, 1, { { 0, 1 } } },
	{ "bytes=200000-,300000-", 100000, -1, 0, { { 0, 0 } } },
	{ "bytes=0-1,2-3", 0, -1, 0, { { 0, 0 } } },
	/* one invalid spec: the whole header is ignored */
	{ "bytes=0-1,x", 100000, 0, 0, { { 0, 0 } } },
	{ "bytes=0-1,9-5", 100000, 0, 0, { { 0, 0 } } },
	{ "bytes=0-1 5000-5001", 100000, 0, 0, { { 0, 0 } } },
	{ "bytes=0-1;5000-5001", 100000, 0, 0, { { 0, 0 } } },
	{ "bytes=0-1,-", 100000, 0, 0, { { 0, 0 } } },
	{ "bytes=,", 100000, 0, 0, { { 0, 0 } } },
	{ "bytes=200000-,x", 100000, 0, 0, { { 0, 0 } } },
};

/* "bytes=" and n far-apart two-byte ranges, 1000 bytes apart */
static size_t many_ranges(char *buf, size_t cap, int n)
{
	size_t o = (size_t)snprintf(buf, cap, "bytes=");

	for (int i = 0; i < n && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%d-%d", i ? "," : "",
				      i * 1000, i * 1000 + 1);
	return o;
}

static void test_ranges(void)
{
	char buf[1024];
	struct hp_ranges set;
	size_t n;
	int r, good;

	for (size_t i = 0; i < sizeof(ranges_cases) / sizeof(ranges_cases[0]); i++) {
		const struct ranges_case *c = &ranges_cases[i];
		size_t len = strlen(c->v);
		char *h = heap_copy(c->v, len);

		memset(&set, 0xa5, sizeof(set));
		r = hp_parse_ranges(h, len, c->size, &set);
		free(h);
		good = r == c->ret && (r != 1 || set.n == c->n);
		for (unsigned k = 0; good && r == 1 && k < c->n; k++)
			good = set.r[k].first == c->r[k].first && set.r[k].last == c->r[k].last;
		ok(good, "ranges '%s' size %llu -> %d with %u (got %d with %u: [%llu,%llu]...)",
		   c->v, (unsigned long long)c->size, c->ret, c->n, r, r == 1 ? set.n : 0,
		   r == 1 ? (unsigned long long)set.r[0].first : 0ULL,
		   r == 1 ? (unsigned long long)set.r[0].last : 0ULL);
		r = hp_parse_ranges(at_guard(c->v, len), len, c->size, &set);
		ok(r == c->ret, "ranges '%s' at guard page gives the same answer", c->v);
	}

	n = many_ranges(buf, sizeof(buf), HP_MAX_RANGES);
	r = hp_parse_ranges(at_guard(buf, n), n, 100000, &set);
	good = r == 1 && set.n == HP_MAX_RANGES;
	for (unsigned k = 0; good && k < set.n; k++)
		good = set.r[k].first == k * 1000 && set.r[k].last == k * 1000 + 1;
	ok(good, "ranges: %d far-apart specs -> %d parts in order (got %d, n %u)",
	   HP_MAX_RANGES, HP_MAX_RANGES, r, r == 1 ? set.n : 0);
	n = many_ranges(buf, sizeof(buf), HP_MAX_RANGES + 1);
	r = hp_parse_ranges(at_guard(buf, n), n, 100000, &set);
	ok(r == 0, "ranges: %d specs -> ignored (got %d)", HP_MAX_RANGES + 1, r);
	/* The bound counts specs, not parts: overlapping copies do not
	 * slip a long list past it. */
	n = (size_t)snprintf(buf, sizeof(buf), "bytes=0-1");
	for (int i = 0; i < HP_MAX_RANGES; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",0-1");
	r = hp_parse_ranges(at_guard(buf, n), n, 100000, &set);
	ok(r == 0, "ranges: %d copies of one range -> ignored (got %d)", HP_MAX_RANGES + 1, r);
	/* ... and unsatisfiable ones count too */
	n = (size_t)snprintf(buf, sizeof(buf), "bytes=0-1");
	for (int i = 0; i < HP_MAX_RANGES; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",900000-");
	r = hp_parse_ranges(at_guard(buf, n), n, 100000, &set);
	ok(r == 0, "ranges: 1 + %d unsatisfiable specs -> ignored (got %d)", HP_MAX_RANGES, r);
	/* Empty elements are not specs. */
	n = (size_t)snprintf(buf, sizeof(buf), "bytes=0-1,,,,,,,,,,,,,,,,,,,,,,,,5000-5001");
	r = hp_parse_ranges(at_guard(buf, n), n, 100000, &set);
	ok(r == 1 && set.n == 2, "ranges: empty elements do not count against the bound");

	/* Exhaustive small sweep: every answer is inside the file, parts are
	 * apart by at least HP_RANGE_GAP_BYTES, every requested byte is in
	 * exactly one part. */
	{
		int bad = 0;
		for (int a = 0; a < 200 && !bad; a += 7)
			for (int b = a; b < 200 && !bad; b += 11)
				for (int c2 = 0; c2 < 200 && !bad; c2 += 13) {
					n = (size_t)snprintf(buf, sizeof(buf), "bytes=%d-%d,%d-%d,-%d",
							     a, b, c2, c2 + 3, a + 1);
					r = hp_parse_ranges(buf, n, 150, &set);
					if (r != 1) {
						bad = 1;
						break;
					}
					for (unsigned k = 0; k < set.n; k++) {
						if (set.r[k].first > set.r[k].last || set.r[k].last >= 150)
							bad = 2;
						for (unsigned m = 0; m < set.n; m++)
							if (m != k && set.r[m].first > set.r[k].last &&
							    set.r[m].first - set.r[k].last - 1 < HP_RANGE_GAP_BYTES)
								bad = 3;
							else if (m != k && set.r[m].first <= set.r[k].last &&
								 set.r[m].first >= set.r[k].first)
								bad = 4;
					}
				}
		ok(!bad, "ranges: sweep of 3-spec headers keeps parts inside the file and apart (%d)", bad);
	}
}

/* ---------------- multipart ---------------- */

static void test_multipart(void)
{
	char b[HP_BOUNDARY_BYTES], out[256], body[4096];
	struct hp_ranges set;
	struct hp_range one = { 5, 6 };
	size_t n, o = 0;
	static const char want[] =
		"\r\n--amped00000000000000ff\r\nContent-Type: text/plain\r\n"
		"Content-Range: bytes 5-6/100\r\n\r\n";

	hp_multipart_boundary(0xff, b);
	ok(strcmp(b, "amped00000000000000ff") == 0, "boundary from a number: %s", b);
	hp_multipart_boundary(UINT64_MAX, b);
	ok(strlen(b) == HP_BOUNDARY_BYTES - 3 && strcmp(b, "ampedffffffffffffffff") == 0,
	   "boundary of UINT64_MAX fits: %s", b);
	hp_multipart_boundary(0xff, b);

	n = hp_multipart_part_header(out, sizeof(out), b, "text/plain", &one, 100);
	ok(n == sizeof(want) - 1 && strcmp(out, want) == 0, "part header text");
	ok(hp_multipart_part_header(NULL, 0, b, "text/plain", &one, 100) == n,
	   "part header measured with NULL/0");
	memset(out, 'x', sizeof(out));
	ok(hp_multipart_part_header(out, 10, b, "text/plain", &one, 100) == n &&
	   out[9] == '\0' && out[10] == 'x', "part header truncated like snprintf");
	n = hp_multipart_trailer(out, sizeof(out), b);
	ok(n == 29 && strcmp(out, "\r\n--amped00000000000000ff--\r\n") == 0, "closing delimiter");

	/* Content-Length equals the body assembled from the pieces. */
	ok(hp_parse_ranges(S("bytes=0-1,500-599,-3"), 1000, &set) == 1 && set.n == 3,
	   "three parts for the length check");
	for (unsigned k = 0; k < set.n; k++) {
		o += hp_multipart_part_header(body + o, sizeof(body) - o, b,
					      "application/octet-stream", &set.r[k], 1000);
		memset(body + o, 'd', set.r[k].last - set.r[k].first + 1);
		o += set.r[k].last - set.r[k].first + 1;
	}
	o += hp_multipart_trailer(body + o, sizeof(body) - o, b);
	ok(hp_multipart_length(&set, b, "application/octet-stream", 1000) == o,
	   "multipart length %zu matches the assembled body", o);
	/* The largest numbers still format whole. */
	one.first = UINT64_MAX - 2;
	one.last = UINT64_MAX - 1;
	n = hp_multipart_part_header(out, sizeof(out), b, "application/octet-stream", &one,
				     UINT64_MAX);
	ok(n < sizeof(out) && strstr(out, "bytes 18446744073709551613-18446744073709551614/18446744073709551615\r\n"),
	   "part header with 20-digit positions");
}

/* ---------------- preconditions ---------------- */

#define ETAG "\"5e0d5da5-c\""
#define LM "Thu, 02 Jan 2020 03:04:05 GMT"
#define OLD "Mon, 01 Jan 2001 00:00:00 GMT"
#define NEWER "Fri, 01 Jan 2038 00:00:00 GMT"
#define MTIME 1577934245	/* LM */

struct pre_case {
	const char *name;
	const char *im, *inm, *ims, *ius, *ir;
	int get_or_head;
	const char *etag;
	enum hp_precondition want;
};

static const struct pre_case pre_cases[] = {
	{ "none", NULL, NULL, NULL, NULL, NULL, 1, ETAG, HP_PRE_PROCEED },
	/* 1: If-Match, strong comparison */
	{ "If-Match tag", ETAG, NULL, NULL, NULL, NULL, 1, ETAG, HP_PRE_PROCEED },
	{ "If-Match *", "*", NULL, NULL, NULL, NULL, 1, ETAG, HP_PRE_PROCEED },
	{ "If-Match list", "\"a\", " ETAG, NULL, NULL, NULL, NULL, 1, ETAG, HP_PRE_PROCEED },
	{ "If-Match other", "\"nope\"", NULL, NULL, NULL, NULL, 1, ETAG, HP_PRE_FAILED },
	{ "If-Match W/tag", "W/" ETAG, NULL, NULL, NULL, NULL, 1, ETAG, HP_PRE_FAILED },
	{ "If-Match on a weak tag", "W/" ETAG, NULL, NULL, NULL, NULL, 1, "W/" ETAG, HP_PRE_FAILED },
	{ "If-Match malformed", "5e0d5da5-c", NULL, NULL, NULL, NULL, 1, ETAG, HP_PRE_FAILED },
	{ "If-Match empty", "", NULL, NULL, NULL, NULL, 1, ETAG, HP_PRE_FAILED },
	{ "If-Match * on HEAD-less method", "*", NULL, NULL, NULL, NULL, 0, ETAG, HP_PRE_PROCEED },
	/* 2: If-Unmodified-Since */
	{ "If-Unmodified-Since older", NULL, NULL, NULL, OLD, NULL, 1, ETAG, HP_PRE_FAILED },
	{ "If-Unmodified-Since equal", NULL, NULL, NULL, LM, NULL, 1, ETAG, HP_PRE_PROCEED },
	{ "If-Unmodified-Since newer", NULL, NULL, NULL, NEWER, NULL, 1, ETAG, HP_PRE_PROCEED },
	{ "If-Unmodified-Since garbage ignored", NULL, NULL, NULL, "yesterday", NULL, 1, ETAG, HP_PRE_PROCEED },
	{ "If-Unmodified-Since ignored after If-Match", ETAG, NULL, NULL, OLD, NULL, 1, ETAG, HP_PRE_PROCEED },
	{ "If-Match fails whatever If-Unmodified-Since says", "\"x\"", NULL, NULL, NEWER, NULL, 1, ETAG, HP_PRE_FAILED },
	/* 1-2 come before 3-4 */
	{ "If-Match fails before If-None-Match", "\"x\"", ETAG, NULL, NULL, NULL, 1, ETAG, HP_PRE_FAILED },
	{ "If-Unmodified-Since fails before If-Modified-Since", NULL, NULL, NEWER, OLD, NULL, 1, ETAG, HP_PRE_FAILED },
	{ "If-Match and If-None-Match both match -> 304", ETAG, ETAG, NULL, NULL, NULL, 1, ETAG, HP_PRE_NOT_MODIFIED },
	/* 3: If-None-Match, weak comparison */
	{ "If-None-Match tag", NULL, ETAG, NULL, NULL, NULL, 1, ETAG, HP_PRE_NOT_MODIFIED },
	{ "If-None-Match W/tag", NULL, "W/" ETAG, NULL, NULL, NULL, 1, ETAG, HP_PRE_NOT_MODIFIED },
	{ "If-None-Match *", NULL, "*", NULL, NULL, NULL, 1, ETAG, HP_PRE_NOT_MODIFIED },
	{ "If-None-Match other", NULL, "\"x\"", NULL, NULL, NULL, 1, ETAG, HP_PRE_PROCEED },
	{ "If-None-Match on other methods -> 412", NULL, ETAG, NULL, NULL, NULL, 0, ETAG, HP_PRE_FAILED },
	{ "If-None-Match overrides If-Modified-Since", NULL, "\"x\"", NEWER, NULL, NULL, 1, ETAG, HP_PRE_PROCEED },
	/* 4: If-Modified-Since */
	{ "If-Modified-Since equal", NULL, NULL, LM, NULL, NULL, 1, ETAG, HP_PRE_NOT_MODIFIED },
	{ "If-Modified-Since newer", NULL, NULL, NEWER, NULL, NULL, 1, ETAG, HP_PRE_NOT_MODIFIED },
	{ "If-Modified-Since older", NULL, NULL, OLD, NULL, NULL, 1, ETAG, HP_PRE_PROCEED },
	{ "If-Modified-Since garbage", NULL, NULL, "garbage", NULL, NULL, 1, ETAG, HP_PRE_PROCEED },
	{ "If-Modified-Since on other methods ignored", NULL, NULL, NEWER, NULL, NULL, 0, ETAG, HP_PRE_PROCEED },
	/* 5: If-Range */
	{ "If-Range tag", NULL, NULL, NULL, NULL, ETAG, 1, ETAG, HP_PRE_PROCEED },
	{ "If-Range other tag", NULL, NULL, NULL, NULL, "\"x\"", 1, ETAG, HP_PRE_FULL },
	{ "If-Range weak tag", NULL, NULL, NULL, NULL, "W/" ETAG, 1, ETAG, HP_PRE_FULL },
	{ "If-Range on a weak tag", NULL, NULL, NULL, NULL, "W/" ETAG, 1, "W/" ETAG, HP_PRE_FULL },
	{ "If-Range date", NULL, NULL, NULL, NULL, LM, 1, ETAG, HP_PRE_PROCEED },
	{ "If-Range older date", NULL, NULL, NULL, NULL, OLD, 1, ETAG, HP_PRE_FULL },
	{ "If-Range newer date", NULL, NULL, NULL, NULL, NEWER, 1, ETAG, HP_PRE_FULL },
	{ "If-Range garbage", NULL, NULL, NULL, NULL, "garbage", 1, ETAG, HP_PRE_FULL },
	{ "If-Range empty", NULL, NULL, NULL, NULL, "", 1, ETAG, HP_PRE_FULL },
	{ "If-Range a tag list is not a tag", NULL, NULL, NULL, NULL, ETAG ", " ETAG, 1, ETAG, HP_PRE_FULL },
	{ "304 comes before If-Range", NULL, ETAG, NULL, NULL, "\"x\"", 1, ETAG, HP_PRE_NOT_MODIFIED },
	{ "412 comes before If-Range", "\"x\"", NULL, NULL, NULL, ETAG, 1, ETAG, HP_PRE_FAILED },
	{ "If-Match passes, If-Range fails", ETAG, NULL, NULL, NULL, "\"x\"", 1, ETAG, HP_PRE_FULL },
};

static const char *pre_name(enum hp_precondition p)
{
	switch (p) {
	case HP_PRE_PROCEED: return "proceed";
	case HP_PRE_FULL: return "full";
	case HP_PRE_NOT_MODIFIED: return "304";
	case HP_PRE_FAILED: return "412";
	}
	return "?";
}

static void test_preconditions(void)
{
	for (size_t i = 0; i < sizeof(pre_cases) / sizeof(pre_cases[0]); i++) {
		const struct pre_case *pc = &pre_cases[i];
		const char *src[5] = { pc->im, pc->inm, pc->ims, pc->ius, pc->ir };
		char *heap[5] = { 0 };
		struct hp_conditions c;
		enum hp_precondition r;
		int same = 1;

		/* every field an exact heap copy (ASan sees any over-read) */
		for (int k = 0; k < 5; k++)
			if (src[k])
				heap[k] = heap_copy(src[k], strlen(src[k]));
		c = (struct hp_conditions){
			heap[0], heap[1], heap[2], heap[3], heap[4],
			src[0] ? strlen(src[0]) : 0, src[1] ? strlen(src[1]) : 0,
			src[2] ? strlen(src[2]) : 0, src[3] ? strlen(src[3]) : 0,
			src[4] ? strlen(src[4]) : 0,
		};
		r = hp_evaluate_preconditions(&c, pc->get_or_head, pc->etag, strlen(pc->etag), MTIME);
		ok(r == pc->want, "preconditions: %s -> %s (got %s)", pc->name,
		   pre_name(pc->want), pre_name(r));
		/* then each field in turn right before the guard page */
		for (int k = 0; k < 5; k++) {
			const char **f[5] = { &c.if_match, &c.if_none_match, &c.if_modified_since,
					      &c.if_unmodified_since, &c.if_range };
			if (!src[k])
				continue;
			*f[k] = at_guard(src[k], strlen(src[k]));
			same &= hp_evaluate_preconditions(&c, pc->get_or_head, pc->etag,
							  strlen(pc->etag), MTIME) == pc->want;
			*f[k] = heap[k];
		}
		ok(same, "preconditions: %s, each field at the guard page", pc->name);
		for (int k = 0; k < 5; k++)
			free(heap[k]);
	}

	{
		static const char req[] =
			"GET / HTTP/1.1\r\nHost: x\r\nif-match: \"a\"\r\nIf-None-Match: \"b\"\r\n"
			"IF-MODIFIED-SINCE: " LM "\r\nIf-Unmodified-Since: " OLD "\r\n"
			"If-Range: \"c\"\r\nIf-Match: \"second\"\r\n\r\n";
		struct hp_request r;
		struct hp_conditions c;

		ok(hp_parse_request(req, sizeof(req) - 1, &r) > 0, "conditions request parses");
		hp_conditions_from_request(&r, &c);
		ok(field_is(c.if_match, c.if_match_len, "\"a\"") &&
		   field_is(c.if_none_match, c.if_none_match_len, "\"b\"") &&
		   field_is(c.if_modified_since, c.if_modified_since_len, LM) &&
		   field_is(c.if_unmodified_since, c.if_unmodified_since_len, OLD) &&
		   field_is(c.if_range, c.if_range_len, "\"c\""),
		   "conditions_from_request: each field, case-insensitive, first of two");
		hp_parse_request(S("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), &r);
		hp_conditions_from_request(&r, &c);
		ok(!c.if_match && !c.if_none_match && !c.if_modified_since &&
		   !c.if_unmodified_since && !c.if_range && !c.if_match_len,
		   "conditions_from_request: absent -> NULL");
	}
	ok(hp_etag_match_strong(S(ETAG), ETAG, strlen(ETAG)) == 1 &&
	   hp_etag_match_strong(S("W/" ETAG), ETAG, strlen(ETAG)) == 0 &&
	   hp_etag_match_strong(S("*"), ETAG, strlen(ETAG)) == 1 &&
	   hp_etag_match_strong(S("\"x\",  " ETAG " "), ETAG, strlen(ETAG)) == 1 &&
	   hp_etag_match_strong(S(ETAG " junk"), ETAG, strlen(ETAG)) == 0,
	   "etag_match_strong: tag, W/ never, *, list, malformed");
}

/* ---------------- body framing ---------------- */

struct framing_case {
	const char *name;
	const char *req;
	uint64_t max;
	int ret;
	uint64_t length;
};

#define RQ(fields) "GET / HTTP/1.1\r\nHost: x\r\n" fields "\r\n"

static const struct framing_case framing_cases[] = {
	{ "no body", RQ(""), 100, HP_BODY_NONE, 0 },
	{ "Content-Length 5", RQ("Content-Length: 5\r\n"), 100, HP_BODY_LENGTH, 5 },
	{ "Content-Length 0", RQ("Content-Length: 0\r\n"), 0, HP_BODY_LENGTH, 0 },
	{ "Content-Length at the limit", RQ("Content-Length: 100\r\n"), 100, HP_BODY_LENGTH, 100 },
	{ "Content-Length over the limit", RQ("Content-Length: 101\r\n"), 100, HP_TOO_LARGE, 0 },
	{ "Content-Length 19 digits", RQ("Content-Length: 1000000000000000000\r\n"), UINT64_MAX, HP_TOO_LARGE, 0 },
	{ "Content-Length 18 digits", RQ("Content-Length: 999999999999999999\r\n"), UINT64_MAX, HP_BODY_LENGTH, 999999999999999999ULL },
	{ "two equal Content-Length", RQ("Content-Length: 5\r\ncontent-length: 5\r\n"), 100, HP_BODY_LENGTH, 5 },
	{ "two different Content-Length", RQ("Content-Length: 5\r\nContent-Length: 6\r\n"), 100, HP_BAD, 0 },
	{ "empty Content-Length", RQ("Content-Length:\r\n"), 100, HP_BAD, 0 },
	{ "Content-Length +5", RQ("Content-Length: +5\r\n"), 100, HP_BAD, 0 },
	{ "Content-Length list", RQ("Content-Length: 5, 5\r\n"), 100, HP_BAD, 0 },
	{ "Content-Length hex", RQ("Content-Length: 0x5\r\n"), 100, HP_BAD, 0 },
	{ "chunked", RQ("Transfer-Encoding: chunked\r\n"), 100, HP_BODY_CHUNKED, 0 },
	{ "CHUNKED", RQ("transfer-encoding: CHUNKED\r\n"), 100, HP_BODY_CHUNKED, 0 },
	{ "chunked, (empty element)", RQ("Transfer-Encoding: chunked ,\r\n"), 100, HP_BODY_CHUNKED, 0 },
	{ "chunked with limit 0", RQ("Transfer-Encoding: chunked\r\n"), 0, HP_BODY_CHUNKED, 0 },
	{ "gzip, chunked", RQ("Transfer-Encoding: gzip, chunked\r\n"), 100, HP_UNSUPPORTED, 0 },
	{ "chunked, gzip", RQ("Transfer-Encoding: chunked, gzip\r\n"), 100, HP_BAD, 0 },
	{ "chunked, chunked", RQ("Transfer-Encoding: chunked, chunked\r\n"), 100, HP_BAD, 0 },
	{ "identity", RQ("Transfer-Encoding: identity\r\n"), 100, HP_BAD, 0 },
	{ "gzip", RQ("Transfer-Encoding: gzip\r\n"), 100, HP_BAD, 0 },
	{ "empty Transfer-Encoding", RQ("Transfer-Encoding:\r\n"), 100, HP_BAD, 0 },
	{ "chunkedx", RQ("Transfer-Encoding: chunkedx\r\n"), 100, HP_BAD, 0 },
	{ "two Transfer-Encoding fields", RQ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 100, HP_BAD, 0 },
	{ "Transfer-Encoding and Content-Length", RQ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 100, HP_BAD, 0 },
	{ "Content-Length and Transfer-Encoding", RQ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 100, HP_BAD, 0 },
	{ "Transfer-Encoding in HTTP/1.0", "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 100, HP_BAD, 0 },
};

static void test_body_framing(void)
{
	for (size_t i = 0; i < sizeof(framing_cases) / sizeof(framing_cases[0]); i++) {
		const struct framing_case *c = &framing_cases[i];
		struct hp_request r;
		uint64_t len = 12345;
		int ret;

		if (hp_parse_request(c->req, strlen(c->req), &r) <= 0) {
			ok(0, "framing %s: request does not parse", c->name);
			continue;
		}
		ret = hp_body_framing(&r, c->max, &len);
		ok(ret == c->ret && (ret != HP_BODY_LENGTH || len == c->length),
		   "framing %s -> %d len %llu (got %d len %llu)", c->name, c->ret,
		   (unsigned long long)c->length, ret, (unsigned long long)len);
	}
}

/* ---------------- chunked bodies ---------------- */

struct chunk_case {
	const char *name;
	const char *s;
	size_t len;
	uint64_t max;
	int ret;
	size_t used;	/* for 1: bytes of the body; for errors: offending byte */
};

#define CK(name, lit, max, ret, used) { name, lit, sizeof(lit) - 1, max, ret, used }

static const struct chunk_case chunk_cases[] = {
	CK("last-chunk only", "0\r\n\r\n", 100, 1, 5),
	CK("next request follows", "0\r\n\r\nGET / HTTP/1.1\r\n", 100, 1, 5),
	CK("one chunk", "5\r\nhello\r\n0\r\n\r\n", 100, 1, 15),
	CK("two chunks", "5\r\nhello\r\n1\r\n!\r\n0\r\n\r\nX", 100, 1, 21),
	CK("hex sizes, both cases", "A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", 100, 1, 35),
	CK("leading zeros", "00005\r\nhello\r\n000\r\n\r\n", 100, 1, 21),
	CK("extensions", "5;a=1;b=\"x y\"\r\nhello\r\n0;last\r\n\r\n", 100, 1, 32),
	CK("BWS before extension", "5 \t; a = 1\r\nhello\r\n0\r\n\r\n", 100, 1, 24),
	CK("BWS then CRLF", "5 \r\nhello\r\n0\r\n\r\n", 100, 1, 16),
	CK("trailers", "0\r\nX-T: y\r\nX-U:\r\n\r\n", 100, 1, 19),
	CK("data with CR LF NUL inside", "4\r\n\r\n\0\n\r\n0\r\n\r\n", 100, 1, 14),
	CK("exactly the limit", "5\r\nhello\r\n0\r\n\r\n", 15, 1, 15),
	/* incomplete */
	CK("empty", "", 100, HP_INCOMPLETE, 0),
	CK("mid size", "12", 100, HP_INCOMPLETE, 2),
	CK("mid data", "5\r\nhel", 100, HP_INCOMPLETE, 6),
	CK("before final LF", "0\r\n\r", 100, HP_INCOMPLETE, 4),
	CK("mid trailer", "0\r\nX-T: y", 100, HP_INCOMPLETE, 9),
	/* malformed -> 400 at the offending byte */
	CK("size not hex", "zz\r\n", 100, HP_BAD, 0),
	CK("no size", "\r\n", 100, HP_BAD, 0),
	CK("0x prefix", "0x5\r\nhello\r\n", 100, HP_BAD, 1),
	CK("sign", "+5\r\n", 100, HP_BAD, 0),
	CK("negative", "-5\r\n", 100, HP_BAD, 0),
	CK("space before size", " 5\r\n", 100, HP_BAD, 0),
	CK("junk after size", "5x\r\n", 100, HP_BAD, 1),
	CK("junk after BWS", "5 x\r\n", 100, HP_BAD, 2),
	CK("bare LF after size", "5\nhello\n0\n\n", 100, HP_BAD, 1),
	CK("CR without LF", "5\rXhello", 100, HP_BAD, 2),
	CK("LF inside extension", "5;a\nb\r\nhello\r\n0\r\n\r\n", 100, HP_BAD, 3),
	CK("NUL inside extension", "5;a\0b\r\nhello\r\n", 100, HP_BAD, 3),
	CK("data longer than its size", "5\r\nhelloXX\r\n0\r\n\r\n", 100, HP_BAD, 8),
	CK("bare LF after data", "5\r\nhello\n0\r\n\r\n", 100, HP_BAD, 8),
	CK("CR then junk after data", "5\r\nhello\rX", 100, HP_BAD, 9),
	CK("trailer without colon", "0\r\nX-T y\r\n\r\n", 100, HP_BAD, 6),
	CK("trailer without name", "0\r\n: y\r\n\r\n", 100, HP_BAD, 3),
	CK("trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n", 100, HP_BAD, 9),
	CK("trailer with bare CR", "0\r\nX: a\rb\r\n\r\n", 100, HP_BAD, 8),
	CK("bare LF at the end", "0\r\n\n", 100, HP_BAD, 3),
	CK("CR CR at the end", "0\r\n\r\r", 100, HP_BAD, 4),
	/* over the limit -> 413, as soon as it shows */
	CK("huge size", "ffffffffffffffffffff\r\n", 1024, HP_TOO_LARGE, 2),
	CK("size past 2^64 with no limit", "fffffffffffffffffffff\r\n", UINT64_MAX, HP_TOO_LARGE, 15),
	CK("size over 64 KiB", "10000\r\n", 65536, HP_TOO_LARGE, 4),
	CK("one byte over", "5\r\nhello\r\n0\r\n\r\n", 14, HP_TOO_LARGE, 14),
	CK("extension eats the room", "5;xxxx\r\nhello\r\n0\r\n\r\n", 12, HP_TOO_LARGE, 7),
	CK("limit 0", "0\r\n\r\n", 0, HP_TOO_LARGE, 0),
	CK("endless leading zeros", "000000000000000000000000000000", 20, HP_TOO_LARGE, 18),
	CK("endless trailers", "0\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 32, HP_TOO_LARGE, 32),
	CK("too large before malformed", "5x", 1, HP_TOO_LARGE, 0),
};

static const char *ck_name(int r)
{
	switch (r) {
	case 1: return "DONE";
	case HP_TOO_LARGE: return "TOO_LARGE";
	}
	return rc_name(r);
}

/* Feed s in pieces of the given sizes (cycled); each piece is placed right
 * before the guard page.  Returns the result and sets *used to the offset
 * in s where it ended. */
static int chunk_feed(const char *s, size_t len, uint64_t max, const size_t *pieces,
		      size_t npieces, size_t *used, int *sticky)
{
	struct hp_chunked d;
	size_t off = 0, k = 0, u;
	int r = HP_INCOMPLETE;

	memset(&d, 0, sizeof(d));
	*sticky = 1;
	while (off < len) {
		size_t n = pieces[k++ % npieces];
		if (n > len - off)
			n = len - off;
		char *h = n > page_bytes ? heap_copy(s + off, n) : NULL;
		r = hp_chunked_discard(&d, h ? h : at_guard(s + off, n), n, max, &u);
		free(h);
		if (r != HP_INCOMPLETE) {
			size_t u2 = 7;
			*used = off + u;
			*sticky = hp_chunked_discard(&d, "0\r\n\r\n", 5, max, &u2) == r && u2 == 0;
			return r;
		}
		if (u != n) {
			*used = SIZE_MAX;
			return 99;
		}
		off += n;
	}
	*used = off;
	return r;
}

static void test_chunked(void)
{
	static const size_t whole[] = { SIZE_MAX }, ones[] = { 1 },
		odd[] = { 3, 1, 4, 1, 5, 9, 2, 6 };
	static const struct { const char *name; const size_t *p; size_t n; } ways[] = {
		{ "whole", whole, 1 }, { "byte by byte", ones, 1 }, { "in odd pieces", odd, 8 },
	};

	for (size_t i = 0; i < sizeof(chunk_cases) / sizeof(chunk_cases[0]); i++) {
		const struct chunk_case *c = &chunk_cases[i];
		struct hp_chunked d;
		size_t used = 99;
		char *h = heap_copy(c->s, c->len);
		int r;

		memset(&d, 0, sizeof(d));
		r = hp_chunked_discard(&d, h, c->len, c->max, &used);
		free(h);
		ok(r == c->ret && used == c->used, "chunked %s -> %s used %zu (got %s used %zu)",
		   c->name, ck_name(c->ret), c->used, ck_name(r), used);
		for (size_t w = 0; w < sizeof(ways) / sizeof(ways[0]); w++) {
			int sticky;
			r = chunk_feed(c->s, c->len, c->max, ways[w].p, ways[w].n, &used, &sticky);
			ok(r == c->ret && used == c->used && sticky,
			   "chunked %s %s at guard page: same answer%s (got %s used %zu)",
			   c->name, ways[w].name, sticky ? "" : ", NOT sticky", ck_name(r), used);
		}
	}

	/* Many small chunks: 1000 one-byte chunks, fed whole and one byte at
	 * a time; and the same with a limit one byte short. */
	{
		static char big[6 * 1000 + 6];
		size_t o = 0, used;
		int r1, r2, sticky;
		for (int i = 0; i < 1000; i++) {
			memcpy(big + o, "1\r\nx\r\n", 6);
			o += 6;
		}
		memcpy(big + o, "0\r\n\r\n", 5);
		o += 5;
		r1 = chunk_feed(big, o, o, whole, 1, &used, &sticky);
		ok(r1 == 1 && used == o, "chunked: 1000 one-byte chunks whole (got %s used %zu)",
		   ck_name(r1), used);
		r2 = chunk_feed(big, o, o, ones, 1, &used, &sticky);
		ok(r2 == 1 && used == o, "chunked: 1000 one-byte chunks byte by byte");
		r2 = chunk_feed(big, o, o - 1, ones, 1, &used, &sticky);
		ok(r2 == HP_TOO_LARGE && used == o - 1, "chunked: limit one byte short -> 413 at the last byte");
	}

	/* Mutations of a valid body: whole, byte by byte and in pieces agree
	 * on the answer and where it was found; a success never claims more
	 * bytes than it was given. */
	{
		static const char base[] = "1a;x=\"y\"\r\n0123456789abcdef0123456789\r\n3\r\nabc\r\n0\r\nT: v\r\n\r\nGET";
		char m[sizeof(base)];
		unsigned seed = 12345;
		int bad = 0;
		for (int it = 0; it < 20000 && !bad; it++) {
			size_t len = sizeof(base) - 1, uw, u1, up;
			int rw, r1, rp, st;
			memcpy(m, base, len);
			for (int k = 0; k < 1 + it % 3; k++) {
				seed = seed * 1103515245u + 12345u;
				size_t pos = (seed >> 8) % len;
				seed = seed * 1103515245u + 12345u;
				m[pos] = (char)(seed >> 16);
			}
			seed = seed * 1103515245u + 12345u;
			len -= (seed >> 10) % 8;
			uint64_t max = it % 5 == 0 ? (seed >> 4) % 80 : 1000;
			rw = chunk_feed(m, len, max, whole, 1, &uw, &st);
			r1 = chunk_feed(m, len, max, ones, 1, &u1, &st);
			rp = chunk_feed(m, len, max, odd, 8, &up, &st);
			if (rw != r1 || rw != rp || uw != u1 || uw != up || uw > len ||
			    (rw == 1 && uw > max))
				bad = it + 1;
		}
		ok(!bad, "chunked: 20000 mutated bodies, same answer whole/byte by byte/pieces%s",
		   bad ? " (FAILED)" : "");
	}
}

/* ---------------- dates ---------------- */

struct date_case {
	const char *s;
	size_t len;
	int ret;
	long long t;
};

static const struct date_case date_cases[] = {
	{ S("Sun, 06 Nov 1994 08:49:37 GMT"), 0, 784111777 },
	{ S("Sunday, 06-Nov-94 08:49:37 GMT"), 0, 784111777 },
	{ S("Sun Nov  6 08:49:37 1994"), 0, 784111777 },
	{ S("Sun Nov 06 08:49:37 1994"), 0, 784111777 },
	{ S("Thu, 01 Jan 1970 00:00:00 GMT"), 0, 0 },
	{ S("Wed, 31 Dec 1969 23:59:59 GMT"), 0, -1 },
	{ S("Thursday, 01-Jan-70 00:00:00 GMT"), 0, 0 },
	{ S("Saturday, 01-Jan-00 00:00:00 GMT"), 0, 946684800 },
	{ S("Wednesday, 09-Jun-21 10:18:14 GMT"), 0, 1623233894 },
	{ S("Tue, 29 Feb 2000 12:00:00 GMT"), 0, 951825600 },
	{ S("Fri, 01 Jan 2100 00:00:00 GMT"), 0, 4102444800LL },
	{ S("Tue, 19 Jan 2038 03:14:08 GMT"), 0, 2147483648LL },
	{ S("Sat, 31 Dec 2016 23:59:60 GMT"), 0, 1483228800 },
	{ S("Mon Jan  1 00:00:00 2024"), 0, 1704067200 },
	/* the weekday name is checked for form only, as most servers do */
	{ S("Mon, 06 Nov 1994 08:49:37 GMT"), 0, 784111777 },
	/* invalid */
	{ S("Thu, 29 Feb 2001 00:00:00 GMT"), -1, 0 },
	{ S("Sat, 29 Feb 1900 00:00:00 GMT"), -1, 0 },
	{ S("Sun, 31 Apr 1994 00:00:00 GMT"), -1, 0 },
	{ S("Sun, 00 Nov 1994 08:49:37 GMT"), -1, 0 },
	{ S("Sun, 32 Nov 1994 08:49:37 GMT"), -1, 0 },
	{ S("Sun, 06 Nov 1994 24:00:00 GMT"), -1, 0 },
	{ S("Sun, 06 Nov 1994 08:60:00 GMT"), -1, 0 },
	{ S("Sun, 06 Nov 1994 08:49:61 GMT"), -1, 0 },
	{ S("Sun, 06 Nov 1994 08:49:37 UTC"), -1, 0 },
	{ S("Sun, 06 Nov 1994 08:49:37 gmt"), -1, 0 },
	{ S("sun, 06 Nov 1994 08:49:37 GMT"), -1, 0 },
	{ S("Sun, 06 nov 1994 08:49:37 GMT"), -1, 0 },
	{ S("Sun, 06 Nov 1994 08:49:37 GMT "), -1, 0 },
	{ S(" Sun, 06 Nov 1994 08:49:37 GMT"), -1, 0 },
	{ S("Sun, 6 Nov 1994 08:49:37 GMT"), -1, 0 },
	{ S("Sun, 06 Nov 94 08:49:37 GMT"), -1, 0 },
	{ S("Sun, 06 Nov 1994 08:49 GMT"), -1, 0 },
	{ S("Sun, 06 Nov 1994 08-49-37 GMT"), -1, 0 },
	{ S("Sun, 06 Nov 199x 08:49:37 GMT"), -1, 0 },
	{ S("Xyz, 06 Nov 1994 08:49:37 GMT"), -1, 0 },
	{ S("Sun, 06 Foo 1994 08:49:37 GMT"), -1, 0 },
	{ S("Sun,06 Nov 1994 08:49:37 GMT "), -1, 0 },
	{ S("Sunday, 06-Nov-1994 08:49:37 GMT"), -1, 0 },
	{ S("Sunday, 06 Nov 94 08:49:37 GMT"), -1, 0 },
	{ S("Sunday, 06-Nov-9x 08:49:37 GMT"), -1, 0 },
	{ S("Sundae, 06-Nov-94 08:49:37 GMT"), -1, 0 },
	{ S("Sun Nov 6 08:49:37 1994"), -1, 0 },
	{ S("Sun Nov  6 08:49:37 94"), -1, 0 },
	{ S("Sun Nov  x 08:49:37 1994"), -1, 0 },
	{ S("Sun Nov  6 08:49:37 1994 GMT"), -1, 0 },
	{ S("784111777"), -1, 0 },
	{ S("Sun"), -1, 0 },
	{ S("S"), -1, 0 },
	{ S(""), -1, 0 },
};

static void test_dates(void)
{
	for (size_t i = 0; i < sizeof(date_cases) / sizeof(date_cases[0]); i++) {
		const struct date_case *c = &date_cases[i];
		time_t t = 42;
		int r = hp_parse_http_date(at_guard(c->s, c->len), c->len, &t);
		ok(r == c->ret && (r != 0 || (long long)t == c->t),
		   "date '%s' -> %d %lld (got %d %lld)", c->s, c->ret, c->t, r, (long long)t);
	}

	static const struct { long long t; const char *s; } fmt[] = {
		{ 784111777, "Sun, 06 Nov 1994 08:49:37 GMT" },
		{ 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
		{ -1, "Wed, 31 Dec 1969 23:59:59 GMT" },
		{ 951825600, "Tue, 29 Feb 2000 12:00:00 GMT" },
		{ 2147483648LL, "Tue, 19 Jan 2038 03:14:08 GMT" },
		{ 4102444800LL, "Fri, 01 Jan 2100 00:00:00 GMT" },
		{ 253402300799LL, "Fri, 31 Dec 9999 23:59:59 GMT" },
		{ 999999999999999LL, "Fri, 31 Dec 9999 23:59:59 GMT" },
		{ -62167219200LL, "Sat, 01 Jan 0000 00:00:00 GMT" },
		{ -99999999999999LL, "Sat, 01 Jan 0000 00:00:00 GMT" },
	};
	for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
		char out[30 + 8];
		memset(out, 'Z', sizeof(out));
		int n = hp_format_http_date((time_t)fmt[i].t, out);
		ok(n == 29 && strcmp(out, fmt[i].s) == 0 && out[30] == 'Z',
		   "format date %lld -> '%s' (got %d '%.29s')", fmt[i].t, fmt[i].s, n, out);
	}

	/* Round trip over 1970..2100 with a fixed-seed generator. */
	uint64_t x = 12345;
	int bad = 0, n = 0;
	for (int i = 0; i < 2000; i++) {
		char out[30];
		time_t t, back = 0;
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		t = (time_t)((x >> 16) % 4102444800ULL);
		if (i == 0)
			t = 0;
		if (hp_format_http_date(t, out) != 29 || strlen(out) != 29 ||
		    hp_parse_http_date(out, 29, &back) != 0 || back != t) {
			if (bad++ == 0)
				diag("round trip failed for %lld: '%s' -> %lld",
				     (long long)t, out, (long long)back);
		}
		n++;
	}
	ok(bad == 0, "date round trip format->parse: %d of %d exact", n - bad, n);
}

/* ---------------- etags ---------------- */

struct etag_case {
	const char *list;
	size_t len;
	const char *etag;
	int ret;
};

static const struct etag_case etag_cases[] = {
	{ S("\"abc\""), "\"abc\"", 1 },
	{ S("W/\"abc\""), "\"abc\"", 1 },
	{ S("\"abc\""), "W/\"abc\"", 1 },
	{ S("\"x\", \"abc\""), "\"abc\"", 1 },
	{ S("\"x\" ,W/\"abc\" , \"y\""), "\"abc\"", 1 },
	{ S(",\"abc\","), "\"abc\"", 1 },
	{ S("*"), "\"abc\"", 1 },
	{ S(" * "), "\"abc\"", 1 },
	{ S("\"\""), "\"\"", 1 },
	{ S("\"a\xc3\xa9\""), "\"a\xc3\xa9\"", 1 },
	{ S("\"x\""), "\"abc\"", 0 },
	{ S("\"ABC\""), "\"abc\"", 0 },
	{ S("\"abcd\""), "\"abc\"", 0 },
	{ S("\"ab\""), "\"abc\"", 0 },
	{ S("abc"), "\"abc\"", 0 },
	{ S("\"abc"), "\"abc\"", 0 },
	{ S("\"abc\"x"), "\"abc\"", 0 },
	{ S("\"x\" \"abc\""), "\"abc\"", 0 },
	{ S("\"x\", *"), "\"abc\"", 0 },
	{ S("w/\"abc\""), "\"abc\"", 0 },
	{ S("\"a bc\""), "\"a bc\"", 0 },
	{ S(""), "\"abc\"", 0 },
	{ S("   "), "\"abc\"", 0 },
	{ S("\"abc\""), "abc", 0 },
	{ S("*"), "", 0 },
};

static void test_etag(void)
{
	for (size_t i = 0; i < sizeof(etag_cases) / sizeof(etag_cases[0]); i++) {
		const struct etag_case *c = &etag_cases[i];
		int r = hp_etag_match(at_guard(c->list, c->len), c->len, c->etag,
				      strlen(c->etag));
		ok(r == c->ret, "etag list '%s' vs %s -> %d (got %d)", c->list, c->etag,
		   c->ret, r);
	}
}

/* ---------------- mime ---------------- */

static const struct { const char *path; const char *type; } mime_cases[] = {
	{ "index.html", "text/html" },
	{ "a/b/INDEX.HTM", "text/html" },
	{ "s.css", "text/css" },
	{ "app.js", "application/javascript" },
	{ "mod.mjs", "application/javascript" },
	{ "d.json", "application/json" },
	{ "r.txt", "text/plain" },
	{ "README.md", "text/markdown" },
	{ "f.xml", "text/xml" },
	{ "i.svg", "image/svg+xml" },
	{ "i.png", "image/png" },
	{ "i.jpg", "image/jpeg" },
	{ "i.JPEG", "image/jpeg" },
	{ "i.gif", "image/gif" },
	{ "i.webp", "image/webp" },
	{ "favicon.ico", "image/x-icon" },
	{ "i.avif", "image/avif" },
	{ "doc.pdf", "application/pdf" },
	{ "m.wasm", "application/wasm" },
	{ "v.mp4", "video/mp4" },
	{ "v.webm", "video/webm" },
	{ "a.mp3", "audio/mpeg" },
	{ "a.ogg", "audio/ogg" },
	{ "a.wav", "audio/wav" },
	{ "f.woff", "font/woff" },
	{ "f.woff2", "font/woff2" },
	{ "f.ttf", "font/ttf" },
	{ "f.otf", "font/otf" },
	{ "z.zip", "application/zip" },
	{ "z.tar.gz", "application/gzip" },
	{ "z.tgz", "application/gzip" },
	{ "z.tar", "application/x-tar" },
	{ "z.bz2", "application/x-bzip2" },
	{ "z.xz", "application/x-xz" },
	{ "z.7z", "application/x-7z-compressed" },
	{ "t.csv", "text/csv" },
	{ "noext", "application/octet-stream" },
	{ "", "application/octet-stream" },
	{ "trailingdot.", "application/octet-stream" },
	{ "dir.html/file", "application/octet-stream" },
	{ "dir.html/", "application/octet-stream" },
	{ ".html", "application/octet-stream" },
	{ "a/.css", "application/octet-stream" },
	{ "x.unknown", "application/octet-stream" },
	{ "x.htmlx", "application/octet-stream" },
	{ "x.woff22", "application/octet-stream" },
	{ "x.h", "application/octet-stream" },
};

static void test_mime(void)
{
	for (size_t i = 0; i < sizeof(mime_cases) / sizeof(mime_cases[0]); i++) {
		size_t n = strlen(mime_cases[i].path);
		const char *t = hp_mime_type(at_guard(mime_cases[i].path, n), n);
		ok(strcmp(t, mime_cases[i].type) == 0, "mime '%s' -> %s (got %s)",
		   mime_cases[i].path, mime_cases[i].type, t);
	}
	/* The length, not a NUL, ends the path. */
	ok(strcmp(hp_mime_type("a.css.png", 5), "text/css") == 0,
	   "mime: path_len bounds the extension");
}

static void bench_note(void)
{
	static const char req[] =
		"GET /images/logo.png HTTP/1.1\r\nHost: localhost:8080\r\n"
		"User-Agent: bench/1.0\r\nAccept: */*\r\n\r\n";
	struct hp_request r;
	struct timespec a, b;
	const int iters = 20000;
	int sum = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < iters; i++)
		sum += hp_parse_request(req, sizeof(req) - 1, &r);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / iters;
	ok(sum == iters * (int)(sizeof(req) - 1), "bench loop parsed every time");
	diag("%zu-byte GET: %.0f ns/parse (informational; sanitizers slow this build)", sizeof(req) - 1, ns);
}

int main(void)
{
	page_bytes = (size_t)sysconf(_SC_PAGESIZE);
	guard_in = guard_region();
	guard_out = guard_region();

	test_request_cases();
	test_request_fields();
	test_has_token();
	test_pipelined();
	test_many_headers();
	test_fuzz_prefix();
	test_decode_path();
	test_range();
	test_dates();
	test_etag();
	test_mime();
	test_ranges();
	test_multipart();
	test_preconditions();
	test_body_framing();
	test_chunked();
	bench_note();

	munmap(guard_in, 2 * page_bytes);
	munmap(guard_out, 2 * page_bytes);
	return done_testing();
}
