/* trace — Common Log Format access logs (tr_).
 *
 *   host ident authuser [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326
 *
 * Only the time and the request path are used.  A line without a
 * parseable time or request is malformed: counted, skipped, reported.
 * CLF times have one-second resolution, so the k-th of m requests logged in
 * the same second is placed at k/m of that second: the replay keeps each
 * second's count without inventing bursts at its start. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ampload.h"

static int month_of(const char *m)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int i = 0; i < 12; i++)
		if (!strncmp(m, names + 3 * i, 3))
			return i + 1;
	return 0;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int num(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int tr_parse_line(const char *line, size_t len, int64_t *t_s, const char **path, size_t *path_len)
{
	const char *end = line + len, *lb, *q, *p, *pe;
	int d, y, hh, mm, ss, zh, zm, mon;

	lb = memchr(line, '[', len);
	/* "dd/Mon/yyyy:HH:MM:SS +zzzz]" is 27 bytes */
	if (!lb || end - lb < 28 || lb[27] != ']')
		return -1;
	if (num(lb + 1, 2, &d) || lb[3] != '/' || !(mon = month_of(lb + 4)) || lb[7] != '/' ||
	    num(lb + 8, 4, &y) || lb[12] != ':' || num(lb + 13, 2, &hh) || lb[15] != ':' ||
	    num(lb + 16, 2, &mm) || lb[18] != ':' || num(lb + 19, 2, &ss) || lb[21] != ' ' ||
	    (lb[22] != '+' && lb[22] != '-') || num(lb + 23, 2, &zh) || num(lb + 25, 2, &zm))
		return -1;
	if (d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60)
		return -1;
	*t_s = days_from_civil(y, (unsigned)mon, (unsigned)d) * 86400 + hh * 3600 + mm * 60 + ss;
	/* The zone says how far local time is ahead of UTC. */
	*t_s -= (lb[22] == '-' ? -1 : 1) * (zh * 3600 + zm * 60);
	q = memchr(lb + 28, '"', (size_t)(end - (lb + 28)));
	if (!q)
		return -1;
	p = q + 1;
	while (p < end && *p != ' ' && *p != '"')	/* method */
		p++;
	if (p >= end || *p != ' ')
		return -1;
	p++;
	if (p >= end || *p != '/')
		return -1;
	for (pe = p; pe < end && *pe != ' ' && *pe != '"'; pe++)
		if ((unsigned char)*pe < 0x21 || *pe == 0x7f)
			return -1;
	*path = p;
	*path_len = (size_t)(pe - p);
	return 0;
}

static int cmp_time(const void *a, const void *b)
{
	const struct tr_entry *x = a, *y = b;
	if (x->at_ns != y->at_ns)
		return x->at_ns < y->at_ns ? -1 : 1;
	return x->path < y->path ? -1 : x->path > y->path;
}

int tr_load(struct tr_trace *t, const char *file, char *err, size_t errlen)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0, alloc = 0;
	ssize_t len;
	int64_t first = 0;
	int64_t *secs = NULL;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	f = fopen(file, "r");
	if (!f) {
		snprintf(err, errlen, "trace %s: %s", file, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		const char *p;
		size_t pl;
		int64_t ts;

		t->lines++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len == 0) {
			t->lines--;
			continue;
		}
		if (tr_parse_line(line, (size_t)len, &ts, &p, &pl) < 0) {
			t->malformed++;
			if (!t->first_bad_line)
				t->first_bad_line = t->lines;
			continue;
		}
		if (t->n == alloc) {
			size_t na = alloc ? 2 * alloc : 1024;
			void *a = realloc(t->e, na * sizeof(*t->e));
			if (!a)
				goto oom;
			t->e = a;
			a = realloc(t->paths, na * sizeof(*t->paths));
			if (!a)
				goto oom;
			t->paths = a;
			a = realloc(secs, na * sizeof(*secs));
			if (!a)
				goto oom;
			secs = a;
			alloc = na;
		}
		t->paths[t->n] = strndup(p, pl);
		if (!t->paths[t->n])
			goto oom;
		secs[t->n] = ts;
		t->e[t->n].path = (uint32_t)t->n;
		t->npaths = ++t->n;
	}
	if (!t->n) {
		snprintf(err, errlen, "trace %s: no valid Common Log Format line (%zu lines, %zu malformed)",
			 file, t->lines, t->malformed);
		goto cleanup;
	}
	first = secs[0];
	for (size_t i = 0; i < t->n; i++)
		if (secs[i] < first)
			first = secs[i];
	for (size_t i = 0; i < t->n; i++)
		t->e[i].at_ns = (uint64_t)(secs[i] - first) * 1000000000u;
	qsort(t->e, t->n, sizeof(*t->e), cmp_time);
	for (size_t i = 0; i < t->n;) {
		size_t j = i;
		while (j < t->n && t->e[j].at_ns == t->e[i].at_ns)
			j++;
		for (size_t k = i; k < j; k++)
			t->e[k].at_ns += (uint64_t)((k - i) * 1000000000u / (j - i));
		i = j;
	}
	rc = 0;
	goto cleanup;
oom:
	snprintf(err, errlen, "out of memory");
cleanup:
	free(line);
	free(secs);
	fclose(f);
	if (rc < 0)
		tr_free(t);
	return rc;
}

void tr_free(struct tr_trace *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->npaths; i++)
		free(t->paths[i]);
	free(t->paths);
	free(t->e);
	memset(t, 0, sizeof(*t));
}
