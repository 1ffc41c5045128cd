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
 *   stk_read(fd, key_size, val_size, rec_size, &recs, &n, &cap)
 *                           appends every entry of map fd to the array recs
 *                           (n records of rec_size bytes, cap allocated;
 *                           grown with realloc, the caller frees it): a
 *                           record's first key_size bytes are the key, the
 *                           val_size bytes after them the value.  0,
 *                           -ENOMEM, -EINVAL (sizes that do not fit).
 *   stk_fold(out, fl, sy, sfd, line)
 *                           one folded line for flame graphs,
 *                             ROLE;COMM;[CAT];user frames;kernel frames COUNT
 *                           (no kernel frames unless line->kernel), written
 *                           to out and added to fl (each when not NULL).
 *                           0 / -ENOMEM.
 *   stk_flame_open(svg, html, &fl)
 *                           for --svg / --html (paths or NULL): creates the
 *                           files empty now, so that a bad path fails before
 *                           tracing, and a graph in fl (NULL when neither is
 *                           asked for).  0, or -1 after a message.
 *   stk_flame_write(svg, html, fl, title, count_name)
 *                           draws fl into those files (nothing when fl is
 *                           NULL), with a line on stderr for each.  0, or -1
 *                           after a message. */
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
/* one folded line's parts; comm: a thread name, not NUL-terminated at 16 */
struct stk_line {
	const char *role, *comm, *cat;
	__u32 tgid;
	__s32 ustack, kstack;
	bool kernel;
	unsigned long long count;
};

int stk_read(int fd, size_t key_size, size_t val_size, size_t rec_size, void **recs, int *n, int *cap);
int stk_fold(FILE *out, struct flame *fl, struct stk_syms *sy, int sfd, const struct stk_line *l);
int stk_flame_open(const char *svg, const char *html, struct flame **fl);
int stk_flame_write(const char *svg, const char *html, const struct flame *fl, const char *title,
		    const char *count_name);

#endif
