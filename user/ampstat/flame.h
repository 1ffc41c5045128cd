/* flame — folded stacks to a self-contained flame graph (SVG, or HTML
 * around the same SVG), for `ampstat offcpu --svg/--html` and any other
 * mode that has stacks with weights.
 *
 * Input is what `--folded` prints: "frame;frame;...;frame COUNT", outermost
 * frame first.  Stacks that share a prefix share the frames of that prefix
 * (merged by name at each depth, siblings in name order, as flamegraph.pl
 * lays them out), and each frame's width is proportional to the sum of the
 * counts of the stacks through it: the root spans the whole width, and the
 * children of a frame never span more than it.
 *
 * The output needs nothing else: no fonts or scripts fetched, a <title> on
 * every frame (name, count, share of the total) for tooltips, and a few
 * lines of inline JavaScript to zoom into a frame on click (click the
 * bottom bar to reset).  Names are XML-escaped (& < > " '). */
#ifndef AMPSTAT_FLAME_H
#define AMPSTAT_FLAME_H
#include <stdio.h>

struct flame;

struct flame_opts {
	const char *title;	/* heading of the picture; NULL: "Flame graph" */
	const char *count_name;	/* unit of the counts, e.g. "us"; NULL: "samples" */
	int width_px;		/* 0: 1200 */
	double min_width_px;	/* frames narrower than this are left out (their
				 * parent keeps its width); < 0: keep all; 0: 0.1 */
};

/* a new, empty graph; NULL when out of memory */
struct flame *flame_new(void);
/* add COUNT to the stack FRAMES ("a;b;c", outermost first; empty frames
 * are skipped).  0 ok, -1 out of memory. */
int flame_add(struct flame *f, const char *frames, unsigned long long count);
/* add one folded line "a;b;c COUNT" (trailing newline allowed).
 * 0 ok, -1 out of memory, -2 malformed (no count after the last space). */
int flame_add_line(struct flame *f, const char *line);
/* the sum of all counts added */
unsigned long long flame_total(const struct flame *f);
/* write the graph as an SVG document, or an HTML page holding it.
 * 0 ok, -1 write error (errno set). */
int flame_svg(const struct flame *f, FILE *out, const struct flame_opts *o);
int flame_html(const struct flame *f, FILE *out, const struct flame_opts *o);
/* accepts NULL */
void flame_free(struct flame *f);

#endif
