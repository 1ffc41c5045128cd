/* pcat_unit — the rules of `ampstat profile` (user/ampstat/pcat.h) without
 * BPF: the leaf decides before outer frames, the first rule of a frame
 * wins (tcp_poll is event notification though tcp_* is network), exe:
 * rules match only user frames by their file, no match falls back by mode,
 * rules added first (as --rules files are) win over the built-in table,
 * and pcat_read's errors and comments; stacks as the kernel and servers
 * here produce them.  TAP on stdout; exit 0 iff all passed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "ampstat/pcat.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* a rules file with text; its path in buf */
static const char *rules_file(char *buf, size_t n, const char *text)
{
	int fd;

	snprintf(buf, n, "/tmp/pcat_unit.XXXXXX");
	fd = mkstemp(buf);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror("rules file");
		exit(1);
	}
	close(fd);
	return buf;
}

int main(void)
{
	struct pcat *t = pcat_new(), *u = pcat_new();
	char path[64];
	int at, c;

	if (!t || !u)
		return 1;
	ok(pcat_builtin(t) == 0, "the built-in table loads");

	/* a copy inside tcp_sendmsg: the leaf decides */
	const struct pcat_frame copy[] = {
		{ "rep_movs_alternative", NULL }, { "_copy_from_iter", NULL }, { "tcp_sendmsg_locked", NULL },
		{ "tcp_sendmsg", NULL }, { "__sys_sendmsg", NULL }, { "do_syscall_64", NULL },
	};
	c = pcat_match(t, copy, N(copy), false, &at);
	ok(c == PCAT_COPY && at == 0, "copy under tcp_sendmsg: data copy, by the leaf (%s, frame %d)", pcat_id[c], at);
	/* an unnamed leaf helper: the next frame out decides */
	const struct pcat_frame lock[] = {
		{ "_raw_spin_unlock_irq", NULL }, { "ep_send_events", NULL }, { "do_epoll_wait", NULL },
		{ "__x64_sys_epoll_wait", NULL }, { "do_syscall_64", NULL },
	};
	c = pcat_match(t, lock, N(lock), false, &at);
	ok(c == PCAT_EVENT && at == 1, "spin unlock in ep_send_events: event notification, frame 1 (%s, %d)",
	   pcat_id[c], at);
	/* one frame, two rules: the first wins */
	const struct pcat_frame poll[] = { { "tcp_poll", NULL }, { "ep_item_poll", NULL } };
	c = pcat_match(t, poll, N(poll), false, &at);
	ok(c == PCAT_EVENT && at == 0, "tcp_poll is event notification, not network (%s)", pcat_id[c]);
	const struct pcat_frame ack[] = { { "tcp_ack", NULL }, { "tcp_rcv_established", NULL } };
	ok(pcat_match(t, ack, N(ack), false, &at) == PCAT_NET, "tcp_ack is network");
	const struct pcat_frame clk[] = { { "sched_clock", NULL }, { "do_syscall_64", NULL } };
	ok(pcat_match(t, clk, N(clk), false, &at) == PCAT_OTHER_KERNEL && at == -1,
	   "sched_clock is a clock, not scheduling: other kernel");
	const struct pcat_frame sw[] = { { "finish_task_switch.isra.0", NULL }, { "__schedule", NULL } };
	ok(pcat_match(t, sw, N(sw), false, &at) == PCAT_SCHED, "finish_task_switch.isra.0 is scheduling");
	const struct pcat_frame slab[] = { { "kmem_cache_alloc_node_noprof", NULL }, { "__alloc_skb", NULL } };
	ok(pcat_match(t, slab, N(slab), false, &at) == PCAT_MEM, "the slab under __alloc_skb is memory allocation");
	const struct pcat_frame rd[] = { { "filemap_get_read_batch", NULL }, { "filemap_read", NULL } };
	ok(pcat_match(t, rd, N(rd), false, &at) == PCAT_FS, "filemap_get_read_batch is file system and page cache");

	/* user frames: libc's named functions, then the server's own file */
	const struct pcat_frame ngx[] = {
		{ "[nginx]", "nginx" }, { "ngx_http_core_run_phases", "nginx" }, { "[libc.so.6]", "libc.so.6" },
	};
	c = pcat_match(t, ngx, N(ngx), true, &at);
	ok(c == PCAT_HTTP && at == 0, "an unnamed frame of nginx's file is its HTTP code (%s)", pcat_id[c]);
	const struct pcat_frame mc[] = {
		{ "__memmove_avx_unaligned_erms", "libc.so.6" }, { "buffer_append_string_len", "lighttpd" },
	};
	ok(pcat_match(t, mc, N(mc), true, &at) == PCAT_COPY && at == 0, "libc's memmove under lighttpd is data copy");
	const struct pcat_frame ml[] = { { "malloc", "libc.so.6" }, { "conn_process", "amped" } };
	ok(pcat_match(t, ml, N(ml), true, &at) == PCAT_MEM, "malloc under amped is memory allocation");
	const struct pcat_frame ew[] = { { "epoll_wait", "libc.so.6" }, { "ae_poll", "amped" } };
	ok(pcat_match(t, ew, N(ew), true, &at) == PCAT_EVENT, "libc's epoll_wait in user mode is event notification");
	const struct pcat_frame sc[] = { { "swapcontext", "libc.so.6" }, { "ult_yield", "amped" } };
	ok(pcat_match(t, sc, N(sc), true, &at) == PCAT_ULT, "swapcontext under amped's ULT is user-level threads");
	/* exe: never matches a kernel frame (no file) */
	const struct pcat_frame kex[] = { { "nginx", NULL } };
	ok(pcat_match(t, kex, N(kex), false, &at) == PCAT_OTHER_KERNEL, "exe:nginx does not match a kernel frame named nginx");
	const struct pcat_frame other[] = { { "[libfoo.so.1]", "libfoo.so.1" }, { "0x1", NULL } };
	ok(pcat_match(t, other, N(other), true, &at) == PCAT_OTHER_USER && at == -1, "no match in user mode: other user");
	ok(pcat_match(t, NULL, 0, false, &at) == PCAT_OTHER_KERNEL && at == -1, "no frames in the kernel: other kernel");

	/* --rules: read first, they win over the built-in table */
	ok(pcat_read(u, rules_file(path, sizeof(path), "# mine\n\ntcp_ack   copy  # moved\nexe:nginx other-user\n")) == 0,
	   "a rules file with comments and blank lines reads");
	unlink(path);
	ok(pcat_builtin(u) == 0, "then the built-in table");
	ok(pcat_match(u, ack, N(ack), false, &at) == PCAT_COPY, "a rule read first wins over the built-in one");
	ok(pcat_match(u, ngx, N(ngx), true, &at) == PCAT_OTHER_USER, "exe:nginx other-user takes nginx's code out of http");
	ok(pcat_match(u, copy, N(copy), false, &at) == PCAT_COPY, "the built-in rules still apply after them");

	struct { const char *text, *why; } bad[] = {
		{ "tcp_* nosuch\n", "an unknown category" },
		{ "tcp_*\n", "no category" },
		{ "tcp_* net extra\n", "a third word" },
		{ "exe: net\n", "exe: without a glob" },
	};
	for (int i = 0; i < N(bad); i++) {
		struct pcat *b = pcat_new();

		ok(b && pcat_read(b, rules_file(path, sizeof(path), bad[i].text)) == -1, "rejected: %s", bad[i].why);
		unlink(path);
		pcat_free(b);
	}
	ok(pcat_read(u, "/nonexistent/pcat.rules") == -1, "a missing file: -1");
	ok(pcat_of("event") == PCAT_EVENT && pcat_of("bogus") == -1, "pcat_of by name");
	ok(pcat_add(u, "", PCAT_NET) == -EINVAL && pcat_add(u, "x", PCAT_N) == -EINVAL, "pcat_add: bad rules");
	pcat_free(t);
	pcat_free(u);
	pcat_free(NULL);
	return done_testing();
}
