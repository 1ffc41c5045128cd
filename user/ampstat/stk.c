/* stk — see stk.h.  Moved out of offcpu.c when profile needed the same. */
#include <errno.h>
#include <stdio.h>
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

int stk_check_writable(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f || fclose(f)) {
		fprintf(stderr, "ampstat: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int stk_write_flame(const char *path, const struct flame *fl, const struct flame_opts *fo, bool html)
{
	FILE *f = fopen(path, "w");
	int e = !f || (html ? flame_html(fl, f, fo) : flame_svg(fl, f, fo));

	if (f && fclose(f))
		e = 1;
	if (e) {
		fprintf(stderr, "ampstat: write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(stderr, "ampstat: flame graph (%llu us in all) written to %s\n", flame_total(fl), path);
	return 0;
}
