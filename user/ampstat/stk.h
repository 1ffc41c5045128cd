/* stk — the stacks the opt-in modes (offcpu, profile) take into a BPF
 * STACK_TRACE map, as names, and the files they draw them into.
 *
 *   stk_user_syms(sy, pid)  the resolver of pid's user code, opened on first
 *                           use and kept in sy (at most STK_SYMS_MAX
 *                           processes; NULL past that or when pid is gone:
 *                           frames are then addresses).
 *   stk_syms_free(sy)       closes them and sy->kernel.
 *   stk_frame_name(s, addr, out, n)
 *                           a frame's name without its offset, so that the
 *                           calls from one function merge: "func+0x1a" ->
 *                           "func", "[libc.so.6+0x1234]" -> "[libc.so.6]";
 *                           ';' and newlines become '_' (they would split a
 *                           folded line); s NULL: "0x...".
 *   stk_frames(fd, id, s, ips, max)
 *                           stack id of map fd, leaf first, without the
 *                           tracing's own frames at a kernel stack's leaf
 *                           (tracepoint, trampoline, BPF program; named
 *                           through s); returns the depth (<= max), or -1
 *                           when id is negative or not in the map.
 *   stk_put(f, fd, id, s, missed, sep)
 *                           writes the frames of stack id outermost first,
 *                           each after sep (a space sep: none before the
 *                           first), or sep and missed when there is none.
 *   stk_check_writable(path) 0 when path can be written (created empty now,
 *                           so that a bad path fails before tracing), -1
 *                           after a message.
 *   stk_write_flame(path, fl, fo, html)
 *                           the flame graph as SVG or HTML into path, and a
 *                           line on stderr saying so; 0, or -1 after a
 *                           message. */
#ifndef AMPSTAT_STK_H
#define AMPSTAT_STK_H
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <linux/types.h>

#define STK_MAX_DEPTH 127	/* the BPF side's stack map value: 127 addresses */
#define STK_SYMS_MAX 64

struct sym;
struct flame;
struct flame_opts;

struct stk_syms {
	pid_t pid[STK_SYMS_MAX];
	struct sym *s[STK_SYMS_MAX];
	int n;
	struct sym *kernel;	/* the caller opens it: sym_open(0) */
};

struct sym *stk_user_syms(struct stk_syms *sy, pid_t pid);
void stk_syms_free(struct stk_syms *sy);
void stk_frame_name(struct sym *s, __u64 addr, char *out, size_t n);
int stk_frames(int fd, __s32 id, struct sym *s, __u64 *ips, int max);
void stk_put(FILE *f, int fd, __s32 id, struct sym *s, const char *missed, const char *sep);
int stk_check_writable(const char *path);
int stk_write_flame(const char *path, const struct flame *fl, const struct flame_opts *fo, bool html);

#endif
