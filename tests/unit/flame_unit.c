/* flame_unit — user/ampstat/flame.c without BPF: folded stacks in, the
 * SVG parsed back: merged prefixes, frame widths in proportion to the
 * counts (each depth sums to its share of the total, children inside their
 * parent), names XML-escaped, malformed lines refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ampstat/flame.h"
#include "tap.h"

#define MAXF 256

struct frame {
	int d;
	double x, w;
	char name[256];
	unsigned long long count;
};

/* XML entities back to characters; 0 ok, -1 an unknown entity */
static int unescape(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	static const struct { const char *e; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&#39;", '\'' },
	};

	for (size_t i = 0; i < n && o + 1 < cap;) {
		if (s[i] != '&') {
			out[o++] = s[i++];
			continue;
		}
		size_t k;
		for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++)
			if (!strncmp(s + i, ents[k].e, strlen(ents[k].e)))
				break;
		if (k == sizeof(ents) / sizeof(ents[0]))
			return -1;
		out[o++] = ents[k].c;
		i += strlen(ents[k].e);
	}
	out[o] = 0;
	return 0;
}

/* the frames of an SVG as flame.c writes them; -1 on a malformed frame */
static int parse(const char *svg, struct frame *f, int max)
{
	int n = 0;
	const char *p = svg;

	while ((p = strstr(p, "<g class=\"f\" data-d=\"")) && n < max) {
		const char *t, *te, *nl;
		char unit[32];

		if (sscanf(p, "<g class=\"f\" data-d=\"%d\"><title>", &f[n].d) != 1)
			return -1;
		t = strstr(p, "<title>") + 7;
		te = strstr(t, "</title>");
		nl = memchr(t, '\n', (size_t)(te - t));
		if (!te || !nl || memchr(t, '<', (size_t)(nl - t)) || memchr(t, '>', (size_t)(nl - t)) ||
		    memchr(t, '"', (size_t)(nl - t)))
			return -1;	/* a raw < > " inside a name */
		if (unescape(t, (size_t)(nl - t), f[n].name, sizeof(f[n].name)))
			return -1;
		if (sscanf(nl + 1, "%llu %31s", &f[n].count, unit) != 2)
			return -1;
		if (sscanf(te, "</title><rect x=\"%lf\" y=\"%*f\" width=\"%lf\"", &f[n].x, &f[n].w) != 2)
			return -1;
		n++;
		p = te;
	}
	return n;
}

static char *render(struct flame *fl, const struct flame_opts *o, int html)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m)
		return NULL;
	if (html ? flame_html(fl, m, o) : flame_svg(fl, m, o)) {
		fclose(m);
		free(buf);
		return NULL;
	}
	fclose(m);
	return buf;
}

static const struct frame *find(const struct frame *f, int n, int d, const char *name)
{
	for (int i = 0; i < n; i++)
		if (f[i].d == d && !strcmp(f[i].name, name))
			return &f[i];
	return NULL;
}

int main(void)
{
	struct flame_opts keep = { .title = "t", .count_name = "us", .width_px = 1000, .min_width_px = -1 };
	struct frame fr[MAXF];
	double W = 1000 - 2 * 10;
	struct flame *fl = flame_new();
	char *svg;
	int n;

	ok(fl != NULL, "flame_new");
	/* input in no particular order, with repeats of one stack */
	ok(!flame_add_line(fl, "io;am-io;[wait-other];main;do_nanosleep 30\n"), "folded line with newline");
	ok(!flame_add_line(fl, "dispatcher;amped;[wait-idle];main;epoll_wait 50"), "folded line");
	ok(!flame_add_line(fl, "io;am-io;[wait-other];main;read 15"), "second io stack");
	ok(!flame_add_line(fl, "io;am-io;[wait-other];main;do_nanosleep 5"), "repeat merges");
	ok(!flame_add_line(fl, "dispatcher;amped;[blocked-io];main;<a&b>\"q'uote\" 100"), "name with <>&\"'");
	ok(flame_total(fl) == 200, "total is the sum of counts (%llu)", flame_total(fl));
	ok(flame_add_line(fl, "no-count") == -2, "a line without a count is malformed");
	ok(flame_add_line(fl, "a;b x") == -2, "a non-numeric count is malformed");
	ok(flame_add_line(fl, "a;b -3") == -2, "a negative count is malformed");
	ok(flame_add_line(fl, "a;b 3x") == -2, "trailing junk is malformed");
	ok(flame_add_line(fl, "") == -2, "an empty line is malformed");
	ok(flame_total(fl) == 200, "malformed lines add nothing");

	svg = render(fl, &keep, 0);
	ok(svg && !strncmp(svg, "<?xml", 5) && strstr(svg, "</svg>"), "SVG document");
	n = parse(svg ? svg : "", fr, MAXF);
	/* all, dispatcher, amped, 2 categories, 2 main, 2 leaves; io, am-io, [wait-other], main, 2 leaves */
	ok(n == 15, "15 merged frames (%d)", n);
	ok(n > 0 && fr[0].d == 0 && !strcmp(fr[0].name, "all") && fabs(fr[0].w - W) < 1e-3 && fr[0].count == 200,
	   "root spans the whole width");
	{
		const struct frame *q = find(fr, n, 5, "<a&b>\"q'uote\"");
		ok(q && q->count == 100 && fabs(q->w - W / 2) < 1e-3, "escaped name parses back, half the width");
		ok(svg && strstr(svg, "&lt;a&amp;b&gt;&quot;q&#39;uote&quot;"), "escaped in the SVG");
		q = find(fr, n, 5, "do_nanosleep");
		ok(q && q->count == 35 && fabs(q->w - W * 35 / 200) < 1e-3, "repeated stack merged: 35 of 200");
	}
	/* every depth sums to its share; every frame lies inside a frame below */
	{
		int bad_sum = 0, outside = 0;
		for (int d = 0; d <= 5; d++) {
			double w = 0;
			unsigned long long c = 0;
			for (int i = 0; i < n; i++)
				if (fr[i].d == d) {
					w += fr[i].w;
					c += fr[i].count;
				}
			if (fabs(w - W * (double)c / 200) > 1e-3 * n)
				bad_sum++;
			if (d <= 4 && c != 200)
				bad_sum++;	/* no stack ends before depth 5 here */
		}
		for (int i = 0; i < n; i++) {
			int in = fr[i].d == 0;
			for (int j = 0; j < n && !in; j++)
				in = fr[j].d == fr[i].d - 1 && fr[i].x >= fr[j].x - 1e-3 &&
				     fr[i].x + fr[i].w <= fr[j].x + fr[j].w + 1e-3;
			outside += !in;
		}
		ok(!bad_sum, "each depth's widths sum to its share of the total");
		ok(!outside, "every frame lies within its parent");
	}
	/* siblings in name order, not input order */
	{
		const struct frame *d = find(fr, n, 1, "dispatcher"), *io = find(fr, n, 1, "io");
		ok(d && io && d->x < io->x, "siblings in name order");
	}
	free(svg);

	/* frames under the minimum width go, their parent keeps its width */
	ok(!flame_add(fl, "io;tiny", 0) && !flame_add(fl, "x;y;z", 1), "flame_add");
	svg = render(fl, &(struct flame_opts){ .width_px = 1000, .min_width_px = 10 }, 0);
	n = parse(svg ? svg : "", fr, MAXF);
	ok(!find(fr, n, 1, "x") && !find(fr, n, 2, "y") && find(fr, n, 0, "all") &&
	   fabs(find(fr, n, 0, "all")->w - W) < 1e-3 && find(fr, n, 1, "io"),
	   "a stack of 1/201 (4.9 px) goes under a 10 px minimum, the root keeps its width");
	ok(!find(fr, n, 2, "tiny"), "a zero-count frame is not drawn");
	ok(svg && strstr(svg, "samples"), "default unit 'samples'");
	free(svg);
	svg = render(fl, &(struct flame_opts){ .width_px = 1000 }, 0);
	ok(svg && parse(svg, fr, MAXF) == 18, "the default minimum (0.1 px) keeps it");
	free(svg);

	svg = render(fl, &keep, 1);
	ok(svg && !strncmp(svg, "<!DOCTYPE html>", 15) && strstr(svg, "<svg") && strstr(svg, "</html>") &&
	   !strstr(svg, "<?xml") && strstr(svg, "<script"), "HTML page around the SVG, script inline");
	ok(svg && !strstr(svg, "src=") && !strstr(svg, "href=") && !strstr(svg, "@import"),
	   "nothing fetched from elsewhere");
	free(svg);
	flame_free(fl);

	fl = flame_new();
	svg = render(fl, NULL, 0);
	ok(svg && strstr(svg, "total 0 samples") && parse(svg, fr, MAXF) == 0, "an empty graph is valid and empty");
	free(svg);
	flame_free(fl);
	flame_free(NULL);
	return done_testing();
}
