/* stk — see stk.h.  Moved out of offcpu.c when profile needed the same. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "ampstat/flame.h"
#include "ampstat/stk.h"
#include "ampstat/sym.h"

struct sym *stk_user_syms(struct stk_syms *sy, pid_t pid)
{
	for (int i = 0; i < sy->n; i++)
		if (sy->pid[i] == pid)
			return sy->s[i];
	if (sy->n == STK_SYMS_MAX)
		return NULL;
	sy->pid[sy->n] = pid;
	sy->s[sy->n] = sym_open(pid);
	return sy->s[sy->n++];
}

void stk_syms_free(struct stk_syms *sy)
{
	for (int i = 0; i < sy->n; i++)
		sym_close(sy->s[i]);
	sy->n = 0;
	sym_close(sy->kernel);
	sy->kernel = NULL;
}

void stk_frame_name(struct sym *s, __u64 addr, char *out, size_t n)
{
	char buf[256], *plus;

	if (!s) {
		snprintf(out, n, "0x%llx", (unsigned long long)addr);
		return;
	}
	sym_resolve(s, addr, buf, sizeof(buf));
	if (buf[0] == '[') {
		plus = strrchr(buf, '+');
		if (plus)
			snprintf(plus, sizeof(buf) - (size_t)(plus - buf), "]");
	} else if (strncmp(buf, "0x", 2)) {
		plus = strchr(buf, '+');
		if (plus) {
			char *rest = strchr(plus, ' ');	/* " [module]" */
			if (rest)
				memmove(plus, rest, strlen(rest) + 1);
			else
				*plus = 0;
		}
	}
	for (char *c = buf; *c; c++)
		if (*c == ';' || *c == '\n')
			*c = '_';
	snprintf(out, n, "%s", buf);
}

/* the tracing's own frames at the leaf of a kernel stack taken in a
 * tracepoint (offcpu's sched_switch): the tracepoint, the BPF trampoline
 * and program */
static bool tracing_frame(const char *name)
{
	return !strncmp(name, "bpf_", 4) || !strncmp(name, "__traceiter_", 12) ||
	       !strncmp(name, "__bpf_trace", 11) || strstr(name, " [bpf]");
}

int stk_frames(int fd, __s32 id, struct sym *s, __u64 *ips, int max)
{
	__u64 all[STK_MAX_DEPTH];
	int depth = 0, leaf = 0;
	char name[256];

	if (id < 0 || bpf_map_lookup_elem(fd, &id, all))
		return -1;
	while (depth < STK_MAX_DEPTH && all[depth])
		depth++;
	while (leaf < depth && sym_is_kernel(all[leaf])) {
		stk_frame_name(s, all[leaf], name, sizeof(name));
		if (!tracing_frame(name))
			break;
		leaf++;
	}
	if (depth - leaf > max)
		depth = leaf + max;
	memcpy(ips, all + leaf, (size_t)(depth - leaf) * sizeof(*ips));
	return depth - leaf;
}

void stk_put(FILE *f, int fd, __s32 id, struct sym *s, const char *missed, const char *sep)
{
	__u64 ips[STK_MAX_DEPTH];
	int depth = stk_frames(fd, id, s, ips, STK_MAX_DEPTH);
	char name[256];

	if (depth < 0) {
		fprintf(f, "%s%s", sep, missed);
		return;
	}
	for (int i = depth - 1; i >= 0; i--) {
		stk_frame_name(s, ips[i], name, sizeof(name));
		fprintf(f, "%s%s", i == depth - 1 && *sep == ' ' ? "" : sep, name);
	}
}

/* 0 when path can be written (created empty now), -1 after a message */
static int check_writable(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f || fclose(f)) {
		fprintf(stderr, "ampstat: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_flame(const char *path, const struct flame *fl, const struct flame_opts *fo, bool html)
{
	FILE *f = fopen(path, "w");
	int e = !f || (html ? flame_html(fl, f, fo) : flame_svg(fl, f, fo));

	if (f && fclose(f))
		e = 1;
	if (e) {
		fprintf(stderr, "ampstat: write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(stderr, "ampstat: flame graph (%llu %s in all) written to %s\n", flame_total(fl),
		fo->count_name, path);
	return 0;
}

int stk_flame_open(const char *svg, const char *html, struct flame **fl)
{
	*fl = NULL;
	if ((svg && check_writable(svg)) || (html && check_writable(html)))
		return -1;
	if ((svg || html) && !(*fl = flame_new())) {
		fprintf(stderr, "ampstat: out of memory\n");
		return -1;
	}
	return 0;
}

int stk_flame_write(const char *svg, const char *html, const struct flame *fl, const char *title,
		    const char *count_name)
{
	struct flame_opts fo = { .title = title, .count_name = count_name };

	if (!fl)
		return 0;
	if ((svg && write_flame(svg, fl, &fo, false)) || (html && write_flame(html, fl, &fo, true)))
		return -1;
	return 0;
}

int stk_read(int fd, size_t key_size, size_t val_size, size_t rec_size, void **recs, int *n, int *cap)
{
	char key[256], next[256], val[256];
	void *prev = NULL;

	if (key_size > sizeof(key) || val_size > sizeof(val) || key_size + val_size > rec_size)
		return -EINVAL;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, val))
			continue;	/* deleted meanwhile */
		if (*n == *cap) {
			int c = *cap ? *cap * 2 : 256;
			void *a = realloc(*recs, (size_t)c * rec_size);

			if (!a)
				return -ENOMEM;
			*recs = a;
			*cap = c;
		}
		memcpy((char *)*recs + (size_t)*n * rec_size, key, key_size);
		memcpy((char *)*recs + (size_t)*n * rec_size + key_size, val, val_size);
		(*n)++;
	}
	return 0;
}

int stk_fold(FILE *out, struct flame *fl, struct stk_syms *sy, int sfd, const struct stk_line *l)
{
	char cm[17], *line = NULL;
	size_t cap = 0;
	FILE *m = open_memstream(&line, &cap);
	int e = 0;

	if (!m)
		return -ENOMEM;
	snprintf(cm, sizeof(cm), "%.16s", l->comm);
	for (char *q = cm; *q; q++)
		if (*q == ';' || *q == ' ')
			*q = '_';
	fprintf(m, "%s;%s;[%s]", l->role, cm, l->cat);
	stk_put(m, sfd, l->ustack, stk_user_syms(sy, (pid_t)l->tgid), "[missed user stack]", ";");
	if (l->kernel)
		stk_put(m, sfd, l->kstack, sy->kernel, "[missed kernel stack]", ";");
	fprintf(m, " %llu\n", l->count);
	if (fclose(m))
		e = -ENOMEM;
	if (!e && out)
		fputs(line, out);
	if (!e && fl && flame_add_line(fl, line))
		e = -ENOMEM;
	free(line);
	return e;
}
