/* profile — `ampstat profile`: where the server's threads spend their CPU,
 * per role and by category, as Pariag et al. (2007, Table 1) grouped
 * OProfile's samples: kernel network stack, event notification, scheduling
 * and context switches, file system and page cache, data copy, the server's
 * HTTP code, user-level thread management, memory allocation, other user,
 * other kernel.  CPU-clock samples at -F HZ on every CPU (bpf/profile.bpf.c)
 * keep the kernel and user stacks of the traced threads; each sample is
 * then put in one category by the rules table below:
 *
 *   A sample taken in kernel mode is classified by its kernel frames, one
 *   in user mode by its user frames.  The frames are tried from the leaf
 *   outwards, and at each frame the rules in order (--rules files first,
 *   then the built-in table); the first rule that matches decides.  A
 *   sample whose frames match no rule is "other kernel" or "other user".
 *
 * Leaf first, because the innermost named function is the work being done
 * (a copy inside tcp_sendmsg is data copy; a spin lock inside ep_poll is
 * event notification), as a flat OProfile profile counts it, but without
 * a rule for every helper function.  A rule is "PATTERN CATEGORY": a glob
 * (fnmatch) on the frame's name as --folded prints it ("tcp_sendmsg",
 * "[libc.so.6]" for code no symbol covers), or "exe:GLOB" on the basename
 * of the file a user frame is mapped from ("exe:nginx": the server's own
 * code).
 *
 * --folded prints, as `ampstat offcpu` does,
 *   ROLE;COMM;[CATEGORY];USER FRAMES (outermost first);KERNEL FRAMES SAMPLES
 * and --svg / --html draw them (user/ampstat/flame.h).  The CPU time of a
 * category is its samples times the sampling period.
 *
 * What sampling cannot see: the timer interrupt that takes a sample waits
 * while interrupts are off, so such code counts where they come back on
 * (a context switch's end in finish_task_switch); user stacks are walked
 * by frame pointers, so code built without them (Debian's nginx and
 * lighttpd, libc) gives a correct leaf but outer frames that may be
 * addresses in no mapping ("0x..."); the leaf decides most samples.  A
 * stripped binary is named through .dynsym (sym.h), code no symbol covers
 * as "[file]". */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ampstat_profile.h"
#include "ampstat/cmd.h"
#include "ampstat/flame.h"
#include "ampstat/roles.h"
#include "ampstat/sess.h"
#include "ampstat/stk.h"
#include "ampstat/sym.h"
#include "profile.skel.h"

#define FREQ_DEFAULT_HZ 99	/* not a divisor of the 250 Hz tick: no lock-step */
#define FREQ_MAX_HZ 10000
#define RULES_MAX 1024

enum cat {
	PC_NET, PC_EVENT, PC_SCHED, PC_FS, PC_COPY, PC_HTTP, PC_ULT, PC_MEM,
	PC_OTHER_USER, PC_OTHER_KERNEL, PC_N
};

static const char *const cat_id[PC_N] = {
	"net", "event", "sched", "fs", "copy", "http", "ult", "mem", "other-user", "other-kernel",
};
static const char *const cat_title[PC_N] = {
	"kernel network stack", "event notification", "scheduling, ctx switches",
	"file system, page cache", "data copy", "server's HTTP code", "user-level threads",
	"memory allocation", "other user", "other kernel",
};

struct rule {
	const char *pat;	/* glob; after "exe:" on the mapped file */
	int cat;
	bool exe;
	char *own;		/* a --rules pattern's copy, freed at the end */
};

/* The built-in rules, for Linux 6.x, glibc and the servers ampstat knows.
 * Within a frame the first match wins: specific names come before the
 * prefixes that would also take them (tcp_poll is event notification, not
 * network), and the servers' own files come last. */
static const struct { const char *pat; int cat; } builtin[] = {
	/* event notification: epoll, poll, select and the servers' loops */
	{ "ep_*", PC_EVENT }, { "*epoll*", PC_EVENT }, { "eventpoll_*", PC_EVENT },
	{ "tcp_poll", PC_EVENT }, { "sock_poll", PC_EVENT }, { "*_poll_wait", PC_EVENT },
	{ "do_sys_poll", PC_EVENT }, { "do_poll*", PC_EVENT }, { "do_select", PC_EVENT },
	{ "core_sys_select", PC_EVENT }, { "*sys_poll", PC_EVENT }, { "*sys_ppoll", PC_EVENT },
	{ "*sys_select", PC_EVENT }, { "*sys_pselect6", PC_EVENT }, { "poll_freewait", PC_EVENT },
	{ "__pollwait", PC_EVENT }, { "poll", PC_EVENT }, { "__poll", PC_EVENT }, { "ppoll", PC_EVENT },
	{ "select", PC_EVENT }, { "__select", PC_EVENT }, { "pselect*", PC_EVENT },
	{ "ae_*", PC_EVENT }, { "ae[A-Z]*", PC_EVENT },			/* amped's loop (user/ae.c) */
	{ "ngx_process_events_and_timers", PC_EVENT }, { "ngx_event_*", PC_EVENT },
	{ "fdevent_*", PC_EVENT }, { "server_main_loop", PC_EVENT },	/* lighttpd */
	/* data copy */
	{ "copy_user_*", PC_COPY }, { "rep_movs_alternative", PC_COPY }, { "rep_stos_alternative", PC_COPY },
	{ "_copy_to_user", PC_COPY }, { "_copy_from_user", PC_COPY }, { "copy_to_user*", PC_COPY },
	{ "copy_from_user*", PC_COPY }, { "_copy_to_iter", PC_COPY }, { "_copy_from_iter*", PC_COPY },
	{ "copy_page_to_iter*", PC_COPY }, { "copy_page_from_iter*", PC_COPY },
	{ "copy_folio_*", PC_COPY }, { "*copy_datagram*", PC_COPY }, { "csum_partial_copy*", PC_COPY },
	{ "memcpy*", PC_COPY }, { "__memcpy*", PC_COPY }, { "memmove*", PC_COPY }, { "__memmove*", PC_COPY },
	{ "*mempcpy*", PC_COPY }, { "__memset*", PC_COPY }, { "memset*", PC_COPY }, { "copy_page", PC_COPY },
	{ "str*cpy*", PC_COPY }, { "__str*cpy*", PC_COPY }, { "__stp*cpy*", PC_COPY },
	/* memory allocation */
	{ "kmalloc*", PC_MEM }, { "__kmalloc*", PC_MEM }, { "kmem_cache_*", PC_MEM }, { "__kmem_cache_*", PC_MEM },
	{ "kfree*", PC_MEM }, { "kvfree*", PC_MEM }, { "kvmalloc*", PC_MEM }, { "*slab_alloc*", PC_MEM },
	{ "*slab_free*", PC_MEM }, { "__slab_*", PC_MEM }, { "___slab_*", PC_MEM }, { "slab_*", PC_MEM },
	{ "*alloc_pages*", PC_MEM }, { "get_page_from_freelist", PC_MEM }, { "*free_unref_*", PC_MEM },
	{ "__free_pages*", PC_MEM }, { "free_pages*", PC_MEM }, { "*page_frag_*", PC_MEM },
	{ "handle_mm_fault", PC_MEM }, { "__handle_mm_fault", PC_MEM }, { "do_anonymous_page", PC_MEM },
	{ "clear_page*", PC_MEM }, { "*do_user_addr_fault", PC_MEM }, { "exc_page_fault", PC_MEM },
	{ "do_brk*", PC_MEM }, { "*sys_brk", PC_MEM }, { "*sys_mmap*", PC_MEM }, { "*sys_munmap", PC_MEM },
	{ "malloc", PC_MEM }, { "free", PC_MEM }, { "calloc", PC_MEM }, { "realloc", PC_MEM },
	{ "cfree*", PC_MEM }, { "__libc_malloc", PC_MEM }, { "__libc_free", PC_MEM },
	{ "__libc_calloc", PC_MEM }, { "__libc_realloc", PC_MEM }, { "_int_*", PC_MEM },
	{ "tcache_*", PC_MEM }, { "malloc_*", PC_MEM }, { "sysmalloc", PC_MEM }, { "__posix_memalign", PC_MEM },
	{ "posix_memalign", PC_MEM }, { "aligned_alloc", PC_MEM }, { "*memalign*", PC_MEM },
	{ "ngx_palloc*", PC_MEM }, { "ngx_pnalloc", PC_MEM }, { "ngx_pcalloc", PC_MEM }, { "ngx_alloc", PC_MEM },
	{ "ngx_calloc", PC_MEM }, { "ngx_pfree", PC_MEM }, { "ngx_*_pool*", PC_MEM }, { "ngx_*pool", PC_MEM },
	{ "ck_malloc", PC_MEM }, { "ck_calloc", PC_MEM }, { "ck_realloc*", PC_MEM },	/* lighttpd */
	/* user-level thread management: thread libraries, contexts, futexes */
	{ "pthread_*", PC_ULT }, { "__pthread_*", PC_ULT }, { "___pthread_*", PC_ULT },
	{ "start_thread", PC_ULT }, { "*swapcontext", PC_ULT }, { "*makecontext", PC_ULT },
	{ "*getcontext", PC_ULT }, { "*setcontext", PC_ULT }, { "__start_context", PC_ULT },
	{ "__lll_*", PC_ULT }, { "__GI___lll_*", PC_ULT }, { "sem_*", PC_ULT }, { "__new_sem_*", PC_ULT },
	{ "*futex*", PC_ULT }, { "ult_*", PC_ULT },					/* amped's ULT model */
	/* scheduling and context switches */
	{ "schedule*", PC_SCHED }, { "__schedule", PC_SCHED }, { "__switch_to*", PC_SCHED },
	{ "finish_task_switch*", PC_SCHED }, { "pick_next_*", PC_SCHED }, { "*_task_fair", PC_SCHED },
	{ "enqueue_*", PC_SCHED }, { "dequeue_*", PC_SCHED }, { "*try_to_wake_up", PC_SCHED },
	{ "ttwu_*", PC_SCHED }, { "wake_up_*", PC_SCHED }, { "__wake_up*", PC_SCHED },
	{ "autoremove_wake_function", PC_SCHED }, { "default_wake_function", PC_SCHED },
	{ "select_task_rq*", PC_SCHED }, { "update_curr*", PC_SCHED }, { "update_load_avg", PC_SCHED },
	{ "update_rq_clock*", PC_SCHED }, { "psi_*", PC_SCHED }, { "sched_balance*", PC_SCHED },
	{ "sched_ttwu*", PC_SCHED }, { "sched_core_*", PC_SCHED }, { "sched_submit_work", PC_SCHED },
	{ "sched_update_worker", PC_SCHED },	/* not sched_*: sched_clock is a clock */
	{ "check_preempt*", PC_SCHED }, { "resched_curr", PC_SCHED }, { "set_next_entity", PC_SCHED },
	{ "put_prev_*", PC_SCHED }, { "context_switch", PC_SCHED }, { "prepare_task_switch", PC_SCHED },
	{ "*sys_sched_yield", PC_SCHED }, { "sched_yield", PC_SCHED }, { "yield*", PC_SCHED },
	{ "__cond_resched", PC_SCHED }, { "preempt_schedule*", PC_SCHED }, { "hrtick*", PC_SCHED },
	{ "raw_spin_rq_*", PC_SCHED }, { "update_cfs_*", PC_SCHED }, { "reweight_*", PC_SCHED },
	/* file system and page cache */
	{ "vfs_*", PC_FS }, { "filemap_*", PC_FS }, { "__filemap_*", PC_FS }, { "generic_file_*", PC_FS },
	{ "generic_perform_*", PC_FS }, { "folio_*", PC_FS }, { "__folio_*", PC_FS }, { "page_cache_*", PC_FS },
	{ "pagecache_*", PC_FS }, { "*readahead*", PC_FS }, { "ext4_*", PC_FS }, { "xfs_*", PC_FS },
	{ "btrfs_*", PC_FS }, { "fuse_*", PC_FS }, { "shmem_*", PC_FS }, { "ovl_*", PC_FS },
	{ "do_sys_open*", PC_FS }, { "do_filp_open", PC_FS }, { "path_*", PC_FS }, { "link_path_walk*", PC_FS },
	{ "walk_component", PC_FS }, { "lookup_*", PC_FS }, { "__lookup_*", PC_FS }, { "d_*", PC_FS },
	{ "__d_*", PC_FS }, { "dput", PC_FS }, { "step_into", PC_FS }, { "do_dentry_open", PC_FS },
	{ "__fput*", PC_FS }, { "fput*", PC_FS }, { "filp_close", PC_FS }, { "*close_fd*", PC_FS },
	{ "alloc_fd", PC_FS }, { "fd_install", PC_FS }, { "alloc_empty_file", PC_FS }, { "do_statx*", PC_FS },
	{ "cp_new_stat*", PC_FS }, { "*sys_*stat*", PC_FS }, { "*sys_open*", PC_FS }, { "*sys_close", PC_FS },
	{ "touch_atime", PC_FS }, { "atime_needs_update", PC_FS }, { "do_sendfile", PC_FS },
	{ "*splice*", PC_FS }, { "*sys_pread64", PC_FS }, { "*sys_read", PC_FS }, { "ksys_read", PC_FS },
	{ "*sys_sendfile64", PC_FS }, { "mark_page_accessed", PC_FS }, { "file_*", PC_FS },
	{ "do_truncate", PC_FS }, { "mntput*", PC_FS }, { "terminate_walk", PC_FS }, { "open_last_lookups", PC_FS },
	/* the kernel network stack, and the socket system calls into it */
	{ "tcp_*", PC_NET }, { "__tcp_*", PC_NET }, { "inet_*", PC_NET }, { "__inet_*", PC_NET },
	{ "inet6_*", PC_NET }, { "ip_*", PC_NET }, { "__ip_*", PC_NET }, { "ip6_*", PC_NET }, { "ipv6_*", PC_NET },
	{ "ipv4_*", PC_NET }, { "udp*", PC_NET }, { "sock_*", PC_NET }, { "__sock_*", PC_NET }, { "sk_*", PC_NET },
	{ "__sk_*", PC_NET }, { "skb_*", PC_NET }, { "__skb_*", PC_NET }, { "*_skb", PC_NET }, { "*kfree_skb*", PC_NET },
	{ "*alloc_skb*", PC_NET }, { "net_*", PC_NET }, { "__net*", PC_NET }, { "netif_*", PC_NET },
	{ "__netif_*", PC_NET }, { "napi_*", PC_NET }, { "__napi_*", PC_NET }, { "process_backlog", PC_NET },
	{ "dev_*", PC_NET }, { "__dev_*", PC_NET }, { "loopback_*", PC_NET }, { "nf_*", PC_NET },
	{ "neigh_*", PC_NET }, { "dst_*", PC_NET }, { "validate_xmit_*", PC_NET }, { "sch_direct_xmit", PC_NET },
	{ "__qdisc_*", PC_NET }, { "qdisc_*", PC_NET }, { "lock_sock*", PC_NET }, { "release_sock", PC_NET },
	{ "sockfd_lookup*", PC_NET }, { "__sys_accept*", PC_NET }, { "do_accept", PC_NET }, { "*sys_accept*", PC_NET },
	{ "__sys_send*", PC_NET }, { "__sys_recv*", PC_NET }, { "*sys_sendmsg", PC_NET }, { "*sys_recvmsg", PC_NET },
	{ "____sys_*msg", PC_NET }, { "___sys_*msg", PC_NET }, { "*sys_sendto", PC_NET }, { "*sys_recvfrom", PC_NET },
	{ "*sys_shutdown", PC_NET }, { "__sys_setsockopt", PC_NET }, { "*sys_setsockopt", PC_NET },
	{ "security_socket_*", PC_NET }, { "security_sock_*", PC_NET }, { "*_sock_*", PC_NET },
	{ "__x64_sys_socket*", PC_NET }, { "move_addr_to_user", PC_NET }, { "__local_bh_enable_ip", PC_NET },
	{ "do_softirq*", PC_NET }, { "__do_softirq", PC_NET }, { "handle_softirqs", PC_NET },
	{ "accept*", PC_NET }, { "__libc_accept*", PC_NET }, { "send*", PC_NET }, { "recv*", PC_NET },
	{ "__libc_send*", PC_NET }, { "__libc_recv*", PC_NET },
	/* the servers' own code (a user frame in their files) */
	{ "exe:amped", PC_HTTP }, { "exe:nginx", PC_HTTP }, { "exe:lighttpd", PC_HTTP },
	{ "exe:mod_*.so", PC_HTTP }, { "exe:h2o", PC_HTTP }, { "exe:floor", PC_HTTP },
	{ "ngx_*", PC_HTTP }, { "http_*", PC_HTTP },
};

/* a record of stk_read: the key, the value right after it */
struct pentry {
	struct ampstat_prof_key k;
	__u64 n;
	int role;
	int cat;
	char decided[256];	/* the frame whose rule decided, or the leaf */
};

struct prof_ctx {
	struct profile_bpf *skel;
	struct rule *rules;	/* --rules ones first, then the built-in table */
	int nrules, nuser;
	long freq_hz;
	int top;
	bool folded, follow;
	const char *svg_path, *html_path;
	struct flame *fl;
	int ncpu, *perf_fds;
	struct bpf_link **links;
	struct stk_syms sy;
	struct pentry *ent;
	int nent, cap;
};

static int cat_of(const char *s)
{
	for (int c = 0; c < PC_N; c++)
		if (!strcmp(s, cat_id[c]))
			return c;
	return -1;
}

/* 0, or -ENOSPC / -ENOMEM after a message */
static int add_rule(struct prof_ctx *x, const char *pat, int cat, bool copy)
{
	struct rule *r;

	if (x->nrules == RULES_MAX) {
		fprintf(stderr, "ampstat: more than %d rules\n", RULES_MAX);
		return -ENOSPC;
	}
	if (!x->rules && !(x->rules = calloc(RULES_MAX, sizeof(*x->rules))))
		goto nomem;
	r = &x->rules[x->nrules];
	r->own = NULL;
	if (copy && !(pat = r->own = strdup(pat)))
		goto nomem;
	r->exe = !strncmp(pat, "exe:", 4);
	r->pat = r->exe ? pat + 4 : pat;
	r->cat = cat;
	x->nrules++;
	return 0;
nomem:
	fprintf(stderr, "ampstat: out of memory\n");
	return -ENOMEM;
}

static void free_rules(struct prof_ctx *x)
{
	for (int i = 0; x->rules && i < x->nrules; i++)
		free(x->rules[i].own);
	free(x->rules);
	x->rules = NULL;
	x->nrules = 0;
}

/* --rules FILE: "PATTERN CATEGORY" lines, '#' comments; the rules go
 * before the built-in ones (fix_rules adds those).  0, or 2 after a message
 * naming the file and line. */
static int read_rules(struct prof_ctx *x, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int ln = 0, rc = 0;

	if (!f) {
		fprintf(stderr, "ampstat: --rules %s: %s\n", path, strerror(errno));
		return 2;
	}
	while (fgets(line, sizeof(line), f)) {
		char pat[256], cat[64], extra[8];
		int n, c;

		ln++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "ampstat: %s:%d: line too long\n", path, ln);
			rc = 2;
			break;
		}
		*strchrnul(line, '#') = 0;
		n = sscanf(line, "%255s %63s %7s", pat, cat, extra);
		if (n <= 0)
			continue;
		c = n == 2 ? cat_of(cat) : -1;
		if (n != 2 || c < 0 || !strcmp(pat, "exe:")) {
			fprintf(stderr, "ampstat: %s:%d: want 'PATTERN CATEGORY' with CATEGORY one of", path, ln);
			for (int i = 0; i < PC_N; i++)
				fprintf(stderr, " %s", cat_id[i]);
			fprintf(stderr, "\n");
			rc = 2;
			break;
		}
		if (add_rule(x, pat, c, true)) {
			rc = 2;
			break;
		}
		x->nuser++;
	}
	fclose(f);
	return rc;
}

/* after the --rules ones: the built-in table.  0 / -ENOMEM */
static int fix_rules(struct prof_ctx *x)
{
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (add_rule(x, builtin[i].pat, builtin[i].cat, false))
			return -ENOMEM;
	return 0;
}

static void list_rules(const struct prof_ctx *x)
{
	printf("# ampstat profile rules: PATTERN CATEGORY, tried in this order at each frame\n");
	printf("# categories:");
	for (int c = 0; c < PC_N; c++)
		printf(" %s (%s)%s", cat_id[c], cat_title[c], c + 1 < PC_N ? "," : "\n");
	for (int i = 0; i < x->nrules; i++) {
		if (i == x->nuser)
			printf("# built in\n");
		printf("%s%s %s\n", x->rules[i].exe ? "exe:" : "", x->rules[i].pat, cat_id[x->rules[i].cat]);
	}
}

/* the category of one sample: see the top of the file.  decided gets the
 * frame whose rule matched, or the leaf frame when none did. */
static int classify(struct prof_ctx *x, const struct ampstat_prof_key *k, char *decided, size_t n)
{
	int sfd = bpf_map__fd(x->skel->maps.stacks);
	struct sym *s = k->user ? stk_user_syms(&x->sy, (pid_t)k->tgid) : x->sy.kernel;
	__u64 ips[STK_MAX_DEPTH];
	int depth = stk_frames(sfd, k->user ? k->ustack : k->kstack, s, ips, STK_MAX_DEPTH);
	int fallback = k->user ? PC_OTHER_USER : PC_OTHER_KERNEL;
	char name[256];

	snprintf(decided, n, "%s", depth < 0 ? (k->user ? "[missed user stack]" : "[missed kernel stack]")
					     : "[no frames]");
	for (int i = 0; i < depth; i++) {
		const char *file = NULL;

		stk_frame_name(s, ips[i], name, sizeof(name));
		if (!i)
			snprintf(decided, n, "%s", name);
		if (k->user)
			file = sym_file(s, ips[i]);
		for (int r = 0; r < x->nrules; r++) {
			const struct rule *ru = &x->rules[r];

			if (ru->exe ? file && !fnmatch(ru->pat, file, 0) : !fnmatch(ru->pat, name, 0)) {
				snprintf(decided, n, "%s", name);
				return ru->cat;
			}
		}
	}
	return fallback;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat profile -p PID [-d SEC] [-F HZ] [--rules FILE]... [--json]\n"
"                       [--folded] [--svg FILE] [--html FILE] [-T N]\n"
"                       [--role NAME=REGEX]... [--no-follow] [-v]\n"
"       ampstat profile --list-rules [--rules FILE]...\n"
"\n"
"Where the server's CPU time goes, per role and by category, from CPU-clock\n"
"samples with stacks (as Pariag et al.'s Table 1 does with OProfile):\n");
	for (int c = 0; c < PC_N; c++)
		fprintf(f, "  %-13s %s\n", cat_id[c], cat_title[c]);
	fprintf(f,
"A sample taken in the kernel is put in a category by its kernel frames, one\n"
"in user mode by its user frames: the frames are tried from the leaf outwards,\n"
"at each the rules in order; the first match decides, and no match at all is\n"
"other-kernel or other-user.  A rule is 'PATTERN CATEGORY': a glob on the\n"
"frame's name as --folded prints it, or exe:GLOB on the name of the file a\n"
"user frame runs from (exe:nginx is all of nginx's own code).  -T shows the\n"
"frames that decided, to see what a rule would move.\n"
"\n"
"  -p, --pid PID        the server to profile (with the processes it forks)\n"
"  -d, --duration SEC   stop after SEC seconds (default: Ctrl-C or exit)\n"
"  -F, --freq HZ        samples per second on each CPU (default %d, at most %d)\n"
"      --rules FILE     more rules, tried before the built-in ones: lines\n"
"                       'PATTERN CATEGORY', '#' comments (may repeat)\n"
"      --list-rules     print the rules in the order they are tried, and exit\n"
"      --json           one JSON object: per role, each category's samples,\n"
"                       share and CPU time\n"
"  -f, --folded         folded stacks for flame graphs:\n"
"                       ROLE;COMM;[CATEGORY];user frames;kernel frames SAMPLES\n"
"      --svg FILE       write the flame graph of those stacks as SVG\n"
"      --html FILE      the same flame graph in an HTML page\n"
"  -T, --top N          deciding frames per role in the table (default 5)\n"
"      --role NAME=RE   a role for threads whose name matches RE (or a\n"
"                       selector: cmd: exe: leader: thread:)\n"
"      --no-follow      do not trace processes the target forks\n"
"  -v, --verbose        libbpf debug output\n"
"\n"
"examples:\n"
"  ampstat profile -p $(pgrep -x amped) -d 10\n"
"  ampstat profile -p $(pgrep -f 'nginx: master') -d 10 -F 999 --json\n"
"  ampstat profile -p 1234 -d 5 --folded --svg cpu.svg > cpu.folded\n"
"  echo 'my_parse_* http' > my.rules; ampstat profile -p 1234 -d 5 --rules my.rules\n"
"\n", FREQ_DEFAULT_HZ, FREQ_MAX_HZ);
	mode_usage_maps(f, "profile");
	fprintf(f,
"Exit status: 0 ok (duration, Ctrl-C or the target exited: the profile is\n"
"printed), 1 runtime error (not root, no BTF, no such process), 2 usage error\n"
"(also a bad --rules file).\n");
}

static int option(struct sess *s, void *ctx, int c, const char *arg)
{
	struct prof_ctx *x = ctx;

	(void)s;
	switch (c) {
	case 'f': x->folded = true; return 0;
	case 'S': x->svg_path = arg; return 0;
	case 'H': x->html_path = arg; return 0;
	case 'R': return read_rules(x, arg);
	case 'L':
		fprintf(stderr, "ampstat: --list-rules takes no -p\n");
		return 2;
	case 'F':
		if (!mode_parse_long(arg, &x->freq_hz) || x->freq_hz < 1 || x->freq_hz > FREQ_MAX_HZ) {
			fprintf(stderr, "ampstat: bad --freq '%s' (1-%d)\n", arg, FREQ_MAX_HZ);
			return 2;
		}
		return 0;
	case 'T': return mode_parse_top(arg, 100000, &x->top) ? 0 : 2;
	case 'r': return roles_add(arg) ? 2 : 0;
	case 'N': x->follow = false; return 0;
	}
	return 2;
}

static int check(struct sess *s, void *ctx)
{
	struct prof_ctx *x = ctx;

	if (s->json && x->folded) {
		fprintf(stderr, "ampstat: --json and --folded both write to stdout: choose one\n");
		return 2;
	}
	return fix_rules(x) ? 1 : 0;
}

/* one CPU-clock event per CPU, the program on each.  0, or 1 after a
 * message. */
static int attach_perf(struct prof_ctx *x)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(a),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.freq = 0,
		.sample_period = 1000000000ULL / (unsigned long)x->freq_hz,	/* ns */
	};
	int on = 0;

	x->ncpu = libbpf_num_possible_cpus();
	if (x->ncpu <= 0) {
		fprintf(stderr, "ampstat: cannot count CPUs\n");
		return 1;
	}
	x->perf_fds = malloc((size_t)x->ncpu * sizeof(int));
	x->links = calloc((size_t)x->ncpu, sizeof(*x->links));
	if (!x->perf_fds || !x->links) {
		fprintf(stderr, "ampstat: out of memory\n");
		return 1;
	}
	for (int c = 0; c < x->ncpu; c++)
		x->perf_fds[c] = -1;
	for (int c = 0; c < x->ncpu; c++) {
		x->perf_fds[c] = (int)syscall(__NR_perf_event_open, &a, -1, c, -1, PERF_FLAG_FD_CLOEXEC);
		if (x->perf_fds[c] < 0) {
			if (errno == ENODEV)	/* a possible CPU that is offline */
				continue;
			fprintf(stderr, "ampstat: perf_event_open(cpu-clock, cpu %d): %s\n", c, strerror(errno));
			return 1;
		}
		x->links[c] = bpf_program__attach_perf_event(x->skel->progs.as_profile, x->perf_fds[c]);
		if (!x->links[c]) {
			fprintf(stderr, "ampstat: attach the sampling program on cpu %d: %s\n", c, strerror(errno));
			return 1;
		}
		on++;
	}
	if (!on) {
		fprintf(stderr, "ampstat: no CPU to sample\n");
		return 1;
	}
	return 0;
}

static void detach_perf(struct prof_ctx *x)
{
	for (int c = 0; x->links && c < x->ncpu; c++) {
		bpf_link__destroy(x->links[c]);
		x->links[c] = NULL;
	}
	for (int c = 0; x->perf_fds && c < x->ncpu; c++) {
		if (x->perf_fds[c] >= 0)
			close(x->perf_fds[c]);
		x->perf_fds[c] = -1;
	}
}

static int start(struct sess *s, void *ctx)
{
	struct prof_ctx *x = ctx;

	if (stk_flame_open(x->svg_path, x->html_path, &x->fl))
		return 1;
	x->skel = profile_bpf__open();
	if (!x->skel) {
		fprintf(stderr, "ampstat: open profile.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	x->skel->rodata->follow_forks = x->follow;
	if (sess_load(s, x->skel->skeleton))
		return 1;
	sess_pin(s, x->skel->obj, "profile", NULL);
	/* the skeleton attaches the fork and exit programs; the sampling
	 * program has no automatic attachment: one perf event per CPU */
	if (sess_targets(s, bpf_map__fd(x->skel->maps.targets), bpf_map__fd(x->skel->maps.fast)) ||
	    sess_attach(s, x->skel->skeleton) || attach_perf(x))
		return 1;
	stk_user_syms(&x->sy, s->pid);	/* the target's mappings while it surely lives */
	fprintf(stderr, "ampstat: tracing pid %d (%s) CPU samples at %ld Hz; Ctrl-C to stop\n", (int)s->pid,
		s->comm, x->freq_hz);
	return 0;
}

static int cmp_keys(const void *a, const void *b)
{
	const struct pentry *x = a, *y = b;

	if (x->role != y->role)
		return x->role - y->role;
	return memcmp(&x->k, &y->k, sizeof(x->k));
}

/* the map's entries with their roles and categories, the threads of a role
 * with the same name and stacks summed (the output has no tids).  0 /
 * -ENOMEM */
static int read_entries(struct prof_ctx *x)
{
	void *recs = x->ent;
	int out = 0, e = stk_read(bpf_map__fd(x->skel->maps.profile), sizeof(struct ampstat_prof_key),
				  sizeof(__u64), sizeof(struct pentry), &recs, &x->nent, &x->cap);

	x->ent = recs;
	if (e)
		return e;
	for (int i = 0; i < x->nent; i++) {
		char cm[AMPSTAT_COMM_LEN + 1];

		snprintf(cm, sizeof(cm), "%.*s", AMPSTAT_COMM_LEN, x->ent[i].k.comm);
		x->ent[i].role = roles_of_thread((pid_t)x->ent[i].k.tgid, (pid_t)x->ent[i].k.tid, cm);
		x->ent[i].k.tid = 0;
	}
	qsort(x->ent, (size_t)x->nent, sizeof(*x->ent), cmp_keys);
	for (int i = 0; i < x->nent; i++) {
		if (out && !cmp_keys(&x->ent[out - 1], &x->ent[i]))
			x->ent[out - 1].n += x->ent[i].n;
		else
			x->ent[out++] = x->ent[i];
	}
	x->nent = out;
	for (int i = 0; i < x->nent; i++)
		x->ent[i].cat = classify(x, &x->ent[i].k, x->ent[i].decided, sizeof(x->ent[i].decided));
	return 0;
}

/* the folded lines: printed (--folded) and/or drawn (--svg, --html).
 * 0 / -ENOMEM */
static int folded_lines(struct prof_ctx *x)
{
	int sfd = bpf_map__fd(x->skel->maps.stacks);

	for (int i = 0; i < x->nent; i++) {
		struct pentry *p = &x->ent[i];
		struct stk_line l = {
			.role = roles_name(p->role), .comm = p->k.comm, .cat = cat_id[p->cat], .tgid = p->k.tgid,
			.ustack = p->k.ustack, .kstack = p->k.kstack, .kernel = !p->k.user, .count = p->n,
		};

		if (stk_fold(x->folded ? stdout : NULL, x->fl, &x->sy, sfd, &l))
			return -ENOMEM;
	}
	return 0;
}

struct tally {
	__u64 by[ROLES_MAX + 1][PC_N];	/* the last row: all roles */
	__u64 tot[ROLES_MAX + 1];
};

static void tally(const struct prof_ctx *x, struct tally *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < x->nent; i++) {
		int r = x->ent[i].role < ROLES_MAX ? x->ent[i].role : ROLES_MAX - 1;

		t->by[r][x->ent[i].cat] += x->ent[i].n;
		t->by[ROLES_MAX][x->ent[i].cat] += x->ent[i].n;
		t->tot[r] += x->ent[i].n;
		t->tot[ROLES_MAX] += x->ent[i].n;
	}
}

/* the -T heaviest deciding frames of role r (entries of one frame summed) */
static void print_top(const struct prof_ctx *x, int r, __u64 tot)
{
	struct { const char *name; int cat; __u64 n; } *f = calloc((size_t)x->nent + 1, sizeof(*f));
	int nf = 0;

	if (!f)
		return;
	for (int i = 0; i < x->nent; i++) {
		int j;

		if (x->ent[i].role != r)
			continue;
		for (j = 0; j < nf; j++)
			if (f[j].cat == x->ent[i].cat && !strcmp(f[j].name, x->ent[i].decided))
				break;
		if (j == nf) {
			f[nf].name = x->ent[i].decided;
			f[nf].cat = x->ent[i].cat;
			nf++;
		}
		f[j].n += x->ent[i].n;
	}
	for (int shown = 0; shown < x->top && shown < nf; shown++) {
		int best = shown;

		for (int j = shown + 1; j < nf; j++)
			if (f[j].n > f[best].n)
				best = j;
		if (best != shown) {
			__typeof__(*f) t = f[shown];

			f[shown] = f[best];
			f[best] = t;
		}
		printf("    %5.1f%%  %-12s %s\n", 100.0 * (double)f[shown].n / (double)tot, cat_id[f[shown].cat],
		       f[shown].name);
	}
	free(f);
}

static void print_table(const struct prof_ctx *x, const struct tally *t, __u64 period_ns)
{
	int cols[ROLES_MAX + 1], nc = 0;

	for (int r = 0; r < roles_count() && r < ROLES_MAX; r++)
		if (t->tot[r])
			cols[nc++] = r;
	if (!t->tot[ROLES_MAX]) {
		printf("no samples of the target: it did not run on a CPU\n");
		return;
	}
	if (nc > 1)
		cols[nc++] = ROLES_MAX;
	printf("%-26s", "category (share, ms)");
	for (int i = 0; i < nc; i++)
		printf(" %17s", cols[i] == ROLES_MAX ? "all" : roles_name(cols[i]));
	printf("\n");
	for (int c = 0; c < PC_N; c++) {
		printf("%-26s", cat_title[c]);
		for (int i = 0; i < nc; i++) {
			__u64 n = t->by[cols[i]][c];

			printf("    %5.1f%% %8.1f", 100.0 * (double)n / (double)t->tot[cols[i]],
			       (double)(n * period_ns) / 1e6);
		}
		printf("\n");
	}
	printf("%-26s", "samples (CPU ms)");
	for (int i = 0; i < nc; i++)
		printf(" %7llu (%7.1f)", (unsigned long long)t->tot[cols[i]],
		       (double)(t->tot[cols[i]] * period_ns) / 1e6);
	printf("\n");
	if (!x->top)
		return;
	for (int i = 0; i < nc; i++) {
		if (cols[i] == ROLES_MAX)
			continue;
		printf("\n%s: the frames that decided\n", roles_name(cols[i]));
		print_top(x, cols[i], t->tot[cols[i]]);
	}
}

static void json_cats(FILE *f, const struct tally *t, int r, __u64 period_ns)
{
	fprintf(f, "\"samples\":%llu,\"cpu_ns\":%llu,\"categories\":{", (unsigned long long)t->tot[r],
		(unsigned long long)(t->tot[r] * period_ns));
	for (int c = 0; c < PC_N; c++) {
		__u64 n = t->by[r][c];

		fprintf(f, "%s\"%s\":{\"samples\":%llu,\"share\":%.4f,\"cpu_ns\":%llu}", c ? "," : "", cat_id[c],
			(unsigned long long)n, t->tot[r] ? (double)n / (double)t->tot[r] : 0.0,
			(unsigned long long)(n * period_ns));
	}
	fprintf(f, "}");
}

static void print_json(const struct prof_ctx *x, const struct sess *s, const struct tally *t, __u64 period_ns,
		       double dur_s, const char *why, const struct tr_prog *p1, __u64 cpu)
{
	int first = 1;

	printf("{\"pid\":%d,\"comm\":", (int)s->pid);
	mode_json_str(stdout, s->comm);
	printf(",\"duration_s\":%.3f,\"end\":", dur_s);
	mode_json_str(stdout, why);
	printf(",\"freq_hz\":%ld,\"period_ns\":%llu,\"category_names\":{", x->freq_hz,
	       (unsigned long long)period_ns);
	for (int c = 0; c < PC_N; c++)
		printf("%s\"%s\":\"%s\"", c ? "," : "", cat_id[c], cat_title[c]);
	printf("},\"roles\":[");
	for (int r = 0; r < roles_count() && r < ROLES_MAX; r++) {
		if (!t->tot[r])
			continue;
		printf("%s{\"role\":", first ? "" : ",");
		mode_json_str(stdout, roles_name(r));
		printf(",");
		json_cats(stdout, t, r, period_ns);
		printf("}");
		first = 0;
	}
	printf("],\"all\":{");
	json_cats(stdout, t, ROLES_MAX, period_ns);
	printf("},\"dropped\":{\"stacks\":%llu,\"entries\":%llu},",
	       (unsigned long long)x->skel->bss->dropped_stacks, (unsigned long long)x->skel->bss->dropped_entries);
	sess_cost(stdout, true, s->p0, p1, s->nprogs, cpu, dur_s);
	printf("}\n");
}

static int stop(struct sess *s, void *ctx, const char *why)
{
	struct prof_ctx *x = ctx;
	struct tr_prog p1[SESS_PROG_MAX];
	__u64 cpu = sess_cpu_ns(s), period_ns = 1000000000ULL / (unsigned long)x->freq_hz;
	FILE *cf = x->folded ? stderr : stdout;	/* the cost line */
	struct tally t;
	double dur_s;

	detach_perf(x);
	profile_bpf__detach(x->skel);
	dur_s = (double)(mode_now_ns() - s->t0_ns) / 1e9;
	sess_progs(s, p1, SESS_PROG_MAX);
	x->sy.kernel = sym_open(0);
	if (read_entries(x) || ((x->folded || x->fl) && folded_lines(x))) {
		fprintf(stderr, "ampstat: out of memory\n");
		return 1;
	}
	if (x->fl) {
		char title[128];

		snprintf(title, sizeof(title), "ampstat profile: pid %d (%s), %.2f s at %ld Hz", (int)s->pid,
			 s->comm, dur_s, x->freq_hz);
		if (stk_flame_write(x->svg_path, x->html_path, x->fl, title, "samples"))
			return 1;
	}
	tally(x, &t);
	if (s->json) {
		print_json(x, s, &t, period_ns, dur_s, why, p1, cpu);
		fflush(stdout);
		return 0;
	}
	if (x->folded) {
		fflush(stdout);
	} else {
		printf("ampstat profile  pid %d (%s)  %.2f s at %ld Hz (%s)\n\n", (int)s->pid, s->comm, dur_s,
		       x->freq_hz, why);
		print_table(x, &t, period_ns);
		printf("\n");
	}
	sess_cost(cf, false, s->p0, p1, s->nprogs, cpu, dur_s);
	if (x->skel->bss->dropped_stacks || x->skel->bss->dropped_entries)
		fprintf(cf, "dropped: stacks %llu, entries %llu\n", (unsigned long long)x->skel->bss->dropped_stacks,
			(unsigned long long)x->skel->bss->dropped_entries);
	fflush(cf);
	return 0;
}

static void cleanup(struct sess *s, void *ctx)
{
	struct prof_ctx *x = ctx;

	(void)s;
	detach_perf(x);
	free(x->links);
	free(x->perf_fds);
	profile_bpf__destroy(x->skel);
	stk_syms_free(&x->sy);
	free(x->ent);
	flame_free(x->fl);
}

/* --list-rules needs no target: the rules (with any --rules files) are
 * printed before the session would ask for -p.  -1: not asked for. */
static int list_only(struct prof_ctx *x, int argc, char **argv)
{
	bool asked = false;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--list-rules"))
			asked = true;
	if (!asked)
		return -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list-rules"))
			continue;
		if (!strcmp(argv[i], "--rules") && i + 1 < argc) {
			if (read_rules(x, argv[++i]))
				return 2;
		} else if (!strncmp(argv[i], "--rules=", 8)) {
			if (read_rules(x, argv[i] + 8))
				return 2;
		} else {
			fprintf(stderr, "ampstat: --list-rules takes only --rules FILE, not '%s'\n", argv[i]);
			return 2;
		}
	}
	if (fix_rules(x))
		return 1;
	list_rules(x);
	return 0;
}

int cmd_profile(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "freq", required_argument, NULL, 'F' },
		{ "rules", required_argument, NULL, 'R' },
		{ "list-rules", no_argument, NULL, 'L' },
		{ "folded", no_argument, NULL, 'f' },
		{ "svg", required_argument, NULL, 'S' },
		{ "html", required_argument, NULL, 'H' },
		{ "top", required_argument, NULL, 'T' },
		{ "role", required_argument, NULL, 'r' },
		{ "no-follow", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct sess_cmd cmd = {
		.name = "profile", .usage = usage, .shortopts = "F:fT:", .longopts = longopts,
		.option = option, .check = check, .flags = SESS_JSON, .interval_s = 0.5, .start = start,
		.stop = stop, .cleanup = cleanup,
	};
	struct prof_ctx x = { .follow = true, .top = 5, .freq_hz = FREQ_DEFAULT_HZ };
	int rc = list_only(&x, argc, argv);

	if (rc < 0)
		rc = sess_run(&cmd, &x, argc, argv);
	free_rules(&x);
	return rc;
}
