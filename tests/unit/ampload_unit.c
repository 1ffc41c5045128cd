/* Unit tests for ampload's modules: the response parser (rp), the
 * histogram (lh), Zipf choice (fs), the Common Log Format parser (tr) and
 * the t quantiles behind the confidence intervals.  Inputs are fed whole
 * and byte by byte, and right before a PROT_NONE page so that a read past
 * the end faults. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "ampload.h"
#include "lh.h"
#include "rp.h"
#include "tap.h"

static char *guard_base;
static size_t guard_page;

/* Copy s to the end of a page followed by a PROT_NONE page. */
static const char *guarded(const char *s, size_t n)
{
	char *dst;

	if (!guard_base) {
		guard_page = (size_t)sysconf(_SC_PAGESIZE);
		guard_base = mmap(NULL, 16 * guard_page, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (guard_base == MAP_FAILED)
			abort();
		mprotect(guard_base + 15 * guard_page, guard_page, PROT_NONE);
	}
	if (n > 15 * guard_page)
		abort();
	dst = guard_base + 15 * guard_page - n;
	memcpy(dst, s, n);
	return dst;
}

struct res {
	int r, status, keep_alive;
	uint64_t body;
	size_t used;
};

/* Feed `s` in pieces of `step` bytes (0: whole); then EOF if asked. */
static struct res feed(const char *s, size_t step, int head, int eof)
{
	struct rp *p = malloc(sizeof(*p));
	size_t n = strlen(s), off = 0, used = 0;
	struct res out = { RP_MORE, 0, 0, 0, 0 };

	rp_init(p, head);
	while (off < n) {
		size_t k = step ? (n - off < step ? n - off : step) : n - off;
		/* Each piece sits right before the guard page. */
		const char *piece = guarded(s + off, k);
		out.r = rp_feed(p, piece, k, &used);
		if (out.r != RP_MORE) {
			out.used = off + used;
			break;
		}
		off += k;
	}
	if (out.r == RP_MORE && eof)
		out.r = rp_eof(p);
	out.status = p->status;
	out.keep_alive = p->keep_alive;
	out.body = p->body_bytes;
	free(p);
	return out;
}

static void test_rp(void)
{
	static const struct {
		const char *name, *text;
		int head, eof, r, status, keep;
		uint64_t body;
		size_t used;	/* 0: all */
	} cases[] = {
		{ "content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, 0, RP_DONE, 200, 1, 5, 0 },
		{ "content-length, extra bytes after", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP", 0, 0, RP_DONE, 200, 1, 2, 40 },
		{ "bare LF line ends", "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", 0, 0, RP_DONE, 200, 1, 3, 0 },
		{ "zero length", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0, RP_DONE, 200, 1, 0, 0 },
		{ "chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			     "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n",
		  0, 0, RP_DONE, 200, 1, 31, 0 },
		{ "chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
					  "3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", 0, 0, RP_DONE, 200, 1, 3, 0 },
		{ "close-delimited", "HTTP/1.1 200 OK\r\n\r\nsome body", 0, 1, RP_DONE, 200, 0, 9, 0 },
		{ "HTTP/1.0 closes by default", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 0, 0, RP_DONE, 200, 0, 1, 0 },
		{ "HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", 0, 0, RP_DONE, 200, 1, 1, 0 },
		{ "Connection: close", "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 0, 0, RP_DONE, 404, 0, 1, 0 },
		{ "HEAD ignores Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", 1, 0, RP_DONE, 200, 1, 0, 0 },
		{ "304 has no body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 0, 0, RP_DONE, 304, 1, 0, 0 },
		{ "100 Continue is skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 0, 0, RP_DONE, 201, 1, 2, 0 },
		{ "short body at EOF", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, 1, RP_BAD, 200, 1, 3, 0 },
		{ "EOF inside the head", "HTTP/1.1 200 OK\r\nContent-Len", 0, 1, RP_BAD, 0, 0, 0, 0 },
		{ "not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", 0, 0, RP_BAD, 0, 0, 0, 0 },
		{ "bad status code", "HTTP/1.1 2x0 OK\r\n\r\n", 0, 0, RP_BAD, 0, 0, 0, 0 },
		{ "conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 0, 0, RP_BAD, 200, 0, 0, 0 },
		{ "negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, 0, RP_BAD, 200, 0, 0, 0 },
		{ "bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 0, RP_BAD, 200, 1, 0, 0 },
		{ "chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc", 0, 0, RP_BAD, 200, 1, 1, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t steps[] = { 0, 1, 7 };
		for (size_t k = 0; k < 3; k++) {
			struct res r = feed(cases[i].text, steps[k], cases[i].head, cases[i].eof);
			int good = r.r == cases[i].r;
			if (cases[i].r == RP_DONE)
				good = good && r.status == cases[i].status &&
				       r.keep_alive == cases[i].keep && r.body == cases[i].body &&
				       (r.r != RP_DONE || cases[i].eof ||
					r.used == (cases[i].used ? cases[i].used : strlen(cases[i].text)));
			ok(good, "rp: %s (%s): r %d status %d keep %d body %llu used %zu",
			   cases[i].name, steps[k] ? (steps[k] == 1 ? "byte by byte" : "7-byte pieces") : "whole",
			   r.r, r.status, r.keep_alive, (unsigned long long)r.body, r.used);
		}
	}
	{
		/* A head larger than RP_HEAD_MAX is refused, not overflowed. */
		size_t n = RP_HEAD_MAX + 100;
		char *big = malloc(n + 1);
		memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
		memset(big + 20, 'a', n - 20);
		big[n] = 0;
		ok(feed(big, 0, 0, 0).r == RP_BAD && feed(big, 1, 0, 0).r == RP_BAD,
		   "rp: a head over %d bytes is RP_BAD", RP_HEAD_MAX);
		free(big);
	}
}

static void test_lh(void)
{
	struct lh *h = malloc(sizeof(*h)), *h2 = malloc(sizeof(*h2));
	double worst = 0;
	int monotone = 1;

	/* Every value from 1 us to 100 s (in 0.1% steps) comes back as its
	 * bucket midpoint within 1%. */
	for (double v = 1000; v <= 1e11; v *= 1.001) {
		unsigned i = lh_index((uint64_t)v);
		double mid = (double)lh_bucket_low(i) + (double)lh_bucket_width(i) / 2;
		double err = fabs(mid - (double)(uint64_t)v) / (double)(uint64_t)v;
		if (err > worst)
			worst = err;
		if ((uint64_t)v < lh_bucket_low(i) ||
		    (uint64_t)v >= lh_bucket_low(i) + lh_bucket_width(i))
			monotone = 0;
	}
	ok(worst <= 0.01, "lh: relative error <= 1%% from 1 us to 100 s (worst %.4f%%)", 100 * worst);
	ok(monotone, "lh: every value lies in its bucket's [low, low + width)");
	ok(lh_index(0) == 0 && lh_index(127) == 127 && lh_index(128) == 128 &&
	   lh_index(LH_MAX_NS) == LH_BUCKETS - 1 && lh_index(UINT64_MAX) == LH_BUCKETS - 1,
	   "lh: edges map to the first, exact and last buckets");

	lh_init(h);
	lh_init(h2);
	for (uint64_t v = 1; v <= 100000; v++)
		lh_record(v <= 50000 ? h : h2, v * 1000);	/* 1 us .. 100 ms */
	lh_merge(h, h2);
	ok(h->n == 100000 && h->min_ns == 1000 && h->max_ns == 100000000,
	   "lh: merged count, min and max are exact");
	ok(fabs(lh_mean_ns(h) - 50000500.0) < 1, "lh: mean is exact (%.1f)", lh_mean_ns(h));
	{
		double q[] = { 0.5, 0.9, 0.99, 0.999 };
		int good = 1;
		for (int i = 0; i < 4; i++) {
			double want = q[i] * 1e8, got = (double)lh_quantile_ns(h, q[i]);
			if (fabs(got - want) / want > 0.01)
				good = 0;
			diag("p%g: %.0f ns (exact %.0f)", q[i] * 100, got, want);
		}
		ok(good, "lh: quantiles of 1 us..100 ms uniform within 1%%");
	}
	lh_record(h, UINT64_C(200000000000));
	ok(h->clamped == 1 && h->max_ns == UINT64_C(200000000000),
	   "lh: a value over 137 s is clamped into the top bucket, max stays exact");
	lh_init(h2);
	ok(lh_quantile_ns(h2, 0.5) == 0 && lh_mean_ns(h2) == 0, "lh: empty histogram gives 0");
	free(h);
	free(h2);
}

static void test_tr(void)
{
	int64_t t = 0;
	const char *p = NULL;
	size_t pl = 0;
	int r;
	const char *l1 = "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326";
	const char *l2 = "h - - [10/Oct/2000:20:55:37 +0000] \"GET /a?b=1 HTTP/1.1\" 404 -";
	const char *bad[] = {
		"",
		"garbage",
		"h - - [10/Oct/2000:13:55:36 -0700]",
		"h - - [10/Xyz/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1",
		"h - - [10/Oct/2000:25:55:36 -0700] \"GET / HTTP/1.0\" 200 1",
		"h - - [10/Oct/2000:13:55:36 0700] \"GET / HTTP/1.0\" 200 1",
		"h - - [10/Oct/2000:13:55:36 -0700] \"GET\" 200 1",
		"h - - [10/Oct/2000:13:55:36 -0700] \"GET nopath HTTP/1.0\" 200 1",
		"h - - [10/Oct/2000:13:55:36 -0700 \"GET / HTTP/1.0\" 200 1",
	};
	int all_bad = 1;

	r = tr_parse_line(l1, strlen(l1), &t, &p, &pl);
	ok(r == 0 && t == 971211336 && pl == 14 && !memcmp(p, "/apache_pb.gif", 14),
	   "tr: the Apache documentation's CLF line parses (t %lld)", (long long)t);
	r = tr_parse_line(l2, strlen(l2), &t, &p, &pl);
	ok(r == 0 && t == 971211337 && pl == 6 && !memcmp(p, "/a?b=1", 6),
	   "tr: zones are applied (+0000 one second later)");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *g = guarded(bad[i], strlen(bad[i]));
		if (tr_parse_line(g, strlen(bad[i]), &t, &p, &pl) == 0) {
			all_bad = 0;
			diag("accepted: %s", bad[i]);
		}
	}
	ok(all_bad, "tr: %zu malformed lines are rejected (before a guard page)",
	   sizeof(bad) / sizeof(bad[0]));
}

static void test_fs(void)
{
	double cdf_u[4] = { 0.25, 0.5, 0.75, 1.0 };
	struct fs_set fs = { .n = 4, .cdf = cdf_u };

	ok(fs_pick(&fs, 1e-9) == 0 && fs_pick(&fs, 0.25) == 0 && fs_pick(&fs, 0.2500001) == 1 &&
	   fs_pick(&fs, 0.74) == 2 && fs_pick(&fs, 1.0) == 3, "fs: pick maps a uniform draw through the CDF");
}

static void test_t(void)
{
	static const struct { double p; int df; double want; } tab[] = {
		{ 0.995, 19, 2.861 }, { 0.975, 9, 2.262 }, { 0.995, 99, 2.626 },
		{ 0.95, 29, 1.699 }, { 0.995, 9, 3.250 }, { 0.9995, 19, 3.883 },
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		double got = rep_t_quantile(tab[i].p, tab[i].df);
		ok(fabs(got - tab[i].want) / tab[i].want < 0.005,
		   "t quantile p=%g df=%d: %.4f (table %.3f)", tab[i].p, tab[i].df, got, tab[i].want);
	}
}

int main(void)
{
	test_rp();
	test_lh();
	test_tr();
	test_fs();
	test_t();
	return done_testing();
}
