/* flame — folded stacks to a self-contained flame graph; the contract is
 * in flame.h.  A tree of frames (children kept sorted by name, so equal
 * prefixes merge and the layout does not depend on input order), laid out
 * bottom-up: the root ("all") at the bottom, each child above its parent,
 * x and width in proportion to the counts. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ampstat/flame.h"

#define FRAME_H_PX 16
#define PAD_PX 10
#define TOP_PX 44
#define CHAR_PX 7.0	/* width of a character of the 12px monospace labels */

struct fnode {
	char *name;
	unsigned long long count;
	struct fnode **kids;
	int nkids, cap;
};

struct flame {
	struct fnode root;
};

struct flame *flame_new(void)
{
	struct flame *f = calloc(1, sizeof(*f));

	if (f && !(f->root.name = strdup("all"))) {
		free(f);
		return NULL;
	}
	return f;
}

static void node_free(struct fnode *n)
{
	for (int i = 0; i < n->nkids; i++) {
		node_free(n->kids[i]);
		free(n->kids[i]);
	}
	free(n->kids);
	free(n->name);
}

void flame_free(struct flame *f)
{
	if (!f)
		return;
	node_free(&f->root);
	free(f);
}

/* the child of p named name[0..len), created in name order when absent */
static struct fnode *child(struct fnode *p, const char *name, size_t len)
{
	int lo = 0, hi = p->nkids;

	while (lo < hi) {
		int mid = (lo + hi) / 2, c = strncmp(p->kids[mid]->name, name, len);
		if (!c && p->kids[mid]->name[len])
			c = 1;	/* a longer name sorts after its prefix */
		if (!c)
			return p->kids[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (p->nkids == p->cap) {
		int n = p->cap ? p->cap * 2 : 4;
		struct fnode **a = realloc(p->kids, (size_t)n * sizeof(*a));
		if (!a)
			return NULL;
		p->kids = a;
		p->cap = n;
	}
	struct fnode *k = calloc(1, sizeof(*k));
	if (!k || !(k->name = strndup(name, len))) {
		free(k);
		return NULL;
	}
	memmove(&p->kids[lo + 1], &p->kids[lo], (size_t)(p->nkids - lo) * sizeof(*p->kids));
	p->kids[lo] = k;
	p->nkids++;
	return k;
}

int flame_add(struct flame *f, const char *frames, unsigned long long count)
{
	struct fnode *n = &f->root;
	const char *s = frames;

	n->count += count;
	while (*s) {
		size_t len = strcspn(s, ";");
		if (len) {
			n = child(n, s, len);
			if (!n)
				return -1;
			n->count += count;
		}
		s += len;
		if (*s == ';')
			s++;
	}
	return 0;
}

int flame_add_line(struct flame *f, const char *line)
{
	size_t len = strcspn(line, "\r\n");
	const char *sp;
	char *frames, *end;
	unsigned long long count;
	int rc;

	while (len && line[len - 1] == ' ')
		len--;
	sp = memrchr(line, ' ', len);
	if (!sp || sp + 1 == line + len || sp[1] == '-')
		return -2;
	errno = 0;
	count = strtoull(sp + 1, &end, 10);
	if (errno || end != line + len)
		return -2;
	frames = strndup(line, (size_t)(sp - line));
	if (!frames)
		return -1;
	rc = flame_add(f, frames, count);
	free(frames);
	return rc;
}

unsigned long long flame_total(const struct flame *f)
{
	return f->root.count;
}

/* ---------------------------------------------------------------- output */

static void xml_text(FILE *out, const char *s, size_t max)
{
	for (size_t i = 0; s[i] && i < max; i++) {
		switch (s[i]) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default:
			/* control characters are not allowed in XML 1.0 */
			fputc((unsigned char)s[i] < 0x20 ? '?' : s[i], out);
		}
	}
}

static int max_depth(const struct fnode *n)
{
	int d = 0;

	for (int i = 0; i < n->nkids; i++) {
		int k = max_depth(n->kids[i]) + 1;
		if (k > d)
			d = k;
	}
	return d;
}

/* a warm colour from the name, so that a function keeps its colour across
 * graphs; the bracketed pseudo-frames ([wait-idle], [missed user stack];
 * not a module such as [libc.so.6]) are blue */
static void colour(const char *name, int rgb[3])
{
	uint32_t h = 2166136261u;

	for (const char *c = name; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	if (name[0] == '[' && !strchr(name, '.')) {
		rgb[0] = 90 + (int)(h % 40);
		rgb[1] = 140 + (int)((h >> 8) % 40);
		rgb[2] = 215 + (int)((h >> 16) % 40);
	} else {
		rgb[0] = 205 + (int)(h % 50);
		rgb[1] = (int)((h >> 8) % 200);
		rgb[2] = (int)((h >> 16) % 55);
	}
}

struct layout {
	FILE *out;
	const char *unit;
	double total, width, min_w;
	int depth;	/* of the tallest stack */
};

static void frames(struct layout *L, const struct fnode *n, int d, double x)
{
	double w = (double)n->count / L->total * L->width;
	double y = TOP_PX + (double)(L->depth - d) * FRAME_H_PX;
	size_t fit = w > 2 * CHAR_PX ? (size_t)((w - 6) / CHAR_PX) : 0, len = strlen(n->name);
	int rgb[3];

	if (w < L->min_w)
		return;
	colour(n->name, rgb);
	fprintf(L->out, "<g class=\"f\" data-d=\"%d\"><title>", d);
	xml_text(L->out, n->name, (size_t)-1);
	fprintf(L->out, "\n%llu %s (%.2f%%)</title><rect x=\"%.4f\" y=\"%.1f\" width=\"%.4f\" height=\"%d\" "
		"fill=\"rgb(%d,%d,%d)\" rx=\"2\"/><text x=\"%.4f\" y=\"%.1f\">", n->count, L->unit,
		100.0 * (double)n->count / L->total, x, y, w, FRAME_H_PX - 1, rgb[0], rgb[1], rgb[2], x + 3,
		y + FRAME_H_PX - 4);
	if (fit >= 3) {
		xml_text(L->out, n->name, len <= fit ? len : fit - 2);
		if (len > fit)
			fputs("..", L->out);
	}
	fputs("</text></g>\n", L->out);
	for (int i = 0; i < n->nkids; i++) {
		frames(L, n->kids[i], d + 1, x);
		x += (double)n->kids[i]->count / L->total * L->width;
	}
}

/* click a frame: it and what it holds fill the width, what lies below it
 * spans it faded, the rest hides; click the bottom bar to reset.  Labels
 * are cut to the new widths as the C side cuts them. */
static const char zoom_js[] =
"(function(){\n"
"var svg=document.currentScript.closest('svg'),W=+svg.dataset.w,P=+svg.dataset.pad,C=7;\n"
"var gs=[].slice.call(svg.querySelectorAll('g.f'));\n"
"gs.forEach(function(g){var r=g.querySelector('rect');g._x=+r.getAttribute('x');"
"g._w=+r.getAttribute('width');g._d=+g.dataset.d;g._n=g.querySelector('title').textContent.split('\\n')[0];});\n"
"function put(g,x,w,faded){var r=g.querySelector('rect'),t=g.querySelector('text');"
"g.style.display='';g.style.opacity=faded?0.5:1;r.setAttribute('x',x);r.setAttribute('width',w);"
"t.setAttribute('x',x+3);var fit=w>2*C?Math.floor((w-6)/C):0,n=g._n;"
"t.textContent=fit<3?'':n.length<=fit?n:n.slice(0,fit-2)+'..';}\n"
"function zoom(z){var e=1e-6;gs.forEach(function(g){"
"if(g._d<z._d){if(g._x<=z._x+e&&g._x+g._w>=z._x+z._w-e)put(g,P,W,true);else g.style.display='none';}"
"else if(g._x>=z._x-e&&g._x+g._w<=z._x+z._w+e)put(g,P+(g._x-z._x)/z._w*W,g._w/z._w*W,false);"
"else g.style.display='none';});}\n"
"svg.addEventListener('click',function(ev){var g=ev.target.closest('g.f');if(g)zoom(g);});\n"
"})();\n";

static void svg_body(const struct flame *f, FILE *out, const struct flame_opts *o, bool standalone)
{
	int width = o && o->width_px > 0 ? o->width_px : 1200;
	double min_w = o && o->min_width_px ? o->min_width_px : 0.1;
	struct layout L = {
		.out = out,
		.unit = o && o->count_name ? o->count_name : "samples",
		.total = (double)f->root.count,
		.width = width - 2 * PAD_PX,
		.min_w = min_w < 0 ? 0 : min_w,
		.depth = max_depth(&f->root),
	};
	int height = TOP_PX + (L.depth + 1) * FRAME_H_PX + PAD_PX;
	const char *title = o && o->title ? o->title : "Flame graph";

	if (standalone)
		fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", out);
	fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" data-w=\"%.4f\" data-pad=\"%d\" data-total=\"%llu\">\n", width, height,
		width, height, L.width, PAD_PX, f->root.count);
	fputs("<style>text{font:12px monospace;fill:#000;pointer-events:none}"
	      "g.f rect{stroke:#fff;stroke-width:0.5;cursor:pointer}g.f:hover rect{stroke:#000}"
	      ".h{font:bold 16px sans-serif;pointer-events:auto}.s{font:12px sans-serif;fill:#555}</style>\n", out);
	fprintf(out, "<rect width=\"%d\" height=\"%d\" fill=\"#f8f8f0\"/>\n<text class=\"h\" x=\"%d\" y=\"22\">",
		width, height, PAD_PX);
	xml_text(out, title, (size_t)-1);
	fprintf(out, "</text>\n<text class=\"s\" x=\"%d\" y=\"38\">total %llu %s; width is proportional to "
		"the count; hover for figures, click a frame to zoom, click the bottom bar to reset</text>\n",
		PAD_PX, f->root.count, L.unit);
	if (f->root.count)
		frames(&L, &f->root, 0, PAD_PX);
	fprintf(out, "<script type=\"text/javascript\"><![CDATA[\n%s]]></script>\n</svg>\n", zoom_js);
}

int flame_svg(const struct flame *f, FILE *out, const struct flame_opts *o)
{
	svg_body(f, out, o, true);
	return fflush(out) || ferror(out) ? -1 : 0;
}

int flame_html(const struct flame *f, FILE *out, const struct flame_opts *o)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", out);
	xml_text(out, o && o->title ? o->title : "Flame graph", (size_t)-1);
	fputs("</title><style>body{margin:0;background:#f8f8f0}svg{display:block;width:100%;height:auto}"
	      "</style></head>\n<body>\n", out);
	svg_body(f, out, o, false);
	fputs("</body></html>\n", out);
	return fflush(out) || ferror(out) ? -1 : 0;
}
