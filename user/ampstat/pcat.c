/* pcat — see pcat.h. */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include "ampstat/pcat.h"

const char *const pcat_id[PCAT_N] = {
	"net", "event", "sched", "fs", "copy", "http", "ult", "mem", "other-user", "other-kernel",
};
const char *const pcat_title[PCAT_N] = {
	"kernel network stack", "event notification", "scheduling, ctx switches",
	"file system, page cache", "data copy", "server's HTTP code", "user-level threads",
	"memory allocation", "other user", "other kernel",
};

struct rule {
	char *pat;		/* as given */
	const char *glob;	/* pat, or after "exe:" */
	bool exe;
	int cat;
};

struct pcat {
	struct rule r[PCAT_RULES_MAX];
	int n;
};

/* The built-in rules, for Linux 6.x, glibc and the servers ampstat knows.
 * Within a frame the first match wins: specific names come before the
 * prefixes that would also take them (tcp_poll is event notification, not
 * network), and the servers' own files come last. */
static const struct { const char *pat; int cat; } builtin[] = {
	/* event notification: epoll, poll, select and the servers' loops */
	{ "ep_*", PCAT_EVENT }, { "*epoll*", PCAT_EVENT }, { "eventpoll_*", PCAT_EVENT },
	{ "tcp_poll", PCAT_EVENT }, { "sock_poll", PCAT_EVENT }, { "*_poll_wait", PCAT_EVENT },
	{ "do_sys_poll", PCAT_EVENT }, { "do_poll*", PCAT_EVENT }, { "do_select", PCAT_EVENT },
	{ "core_sys_select", PCAT_EVENT }, { "*sys_poll", PCAT_EVENT }, { "*sys_ppoll", PCAT_EVENT },
	{ "*sys_select", PCAT_EVENT }, { "*sys_pselect6", PCAT_EVENT }, { "poll_freewait", PCAT_EVENT },
	{ "__pollwait", PCAT_EVENT }, { "poll", PCAT_EVENT }, { "__poll", PCAT_EVENT }, { "ppoll", PCAT_EVENT },
	{ "select", PCAT_EVENT }, { "__select", PCAT_EVENT }, { "pselect*", PCAT_EVENT },
	{ "ae_*", PCAT_EVENT }, { "ae[A-Z]*", PCAT_EVENT },			/* amped's loop (user/ae.c) */
	{ "ngx_process_events_and_timers", PCAT_EVENT }, { "ngx_event_*", PCAT_EVENT },
	{ "fdevent_*", PCAT_EVENT }, { "server_main_loop", PCAT_EVENT },	/* lighttpd */
	/* data copy */
	{ "copy_user_*", PCAT_COPY }, { "rep_movs_alternative", PCAT_COPY }, { "rep_stos_alternative", PCAT_COPY },
	{ "_copy_to_user", PCAT_COPY }, { "_copy_from_user", PCAT_COPY }, { "copy_to_user*", PCAT_COPY },
	{ "copy_from_user*", PCAT_COPY }, { "_copy_to_iter", PCAT_COPY }, { "_copy_from_iter*", PCAT_COPY },
	{ "copy_page_to_iter*", PCAT_COPY }, { "copy_page_from_iter*", PCAT_COPY },
	{ "copy_folio_*", PCAT_COPY }, { "*copy_datagram*", PCAT_COPY }, { "csum_partial_copy*", PCAT_COPY },
	{ "memcpy*", PCAT_COPY }, { "__memcpy*", PCAT_COPY }, { "memmove*", PCAT_COPY }, { "__memmove*", PCAT_COPY },
	{ "*mempcpy*", PCAT_COPY }, { "__memset*", PCAT_COPY }, { "memset*", PCAT_COPY }, { "copy_page", PCAT_COPY },
	{ "str*cpy*", PCAT_COPY }, { "__str*cpy*", PCAT_COPY }, { "__stp*cpy*", PCAT_COPY },
	/* memory allocation */
	{ "kmalloc*", PCAT_MEM }, { "__kmalloc*", PCAT_MEM }, { "kmem_cache_*", PCAT_MEM }, { "__kmem_cache_*", PCAT_MEM },
	{ "kfree*", PCAT_MEM }, { "kvfree*", PCAT_MEM }, { "kvmalloc*", PCAT_MEM }, { "*slab_alloc*", PCAT_MEM },
	{ "*slab_free*", PCAT_MEM }, { "__slab_*", PCAT_MEM }, { "___slab_*", PCAT_MEM }, { "slab_*", PCAT_MEM },
	{ "*alloc_pages*", PCAT_MEM }, { "get_page_from_freelist", PCAT_MEM }, { "*free_unref_*", PCAT_MEM },
	{ "__free_pages*", PCAT_MEM }, { "free_pages*", PCAT_MEM }, { "*page_frag_*", PCAT_MEM },
	{ "handle_mm_fault", PCAT_MEM }, { "__handle_mm_fault", PCAT_MEM }, { "do_anonymous_page", PCAT_MEM },
	{ "clear_page*", PCAT_MEM }, { "*do_user_addr_fault", PCAT_MEM }, { "exc_page_fault", PCAT_MEM },
	{ "do_brk*", PCAT_MEM }, { "*sys_brk", PCAT_MEM }, { "*sys_mmap*", PCAT_MEM }, { "*sys_munmap", PCAT_MEM },
	{ "malloc", PCAT_MEM }, { "free", PCAT_MEM }, { "calloc", PCAT_MEM }, { "realloc", PCAT_MEM },
	{ "cfree*", PCAT_MEM }, { "__libc_malloc", PCAT_MEM }, { "__libc_free", PCAT_MEM },
	{ "__libc_calloc", PCAT_MEM }, { "__libc_realloc", PCAT_MEM }, { "_int_*", PCAT_MEM },
	{ "tcache_*", PCAT_MEM }, { "malloc_*", PCAT_MEM }, { "sysmalloc", PCAT_MEM }, { "__posix_memalign", PCAT_MEM },
	{ "posix_memalign", PCAT_MEM }, { "aligned_alloc", PCAT_MEM }, { "*memalign*", PCAT_MEM },
	{ "ngx_palloc*", PCAT_MEM }, { "ngx_pnalloc", PCAT_MEM }, { "ngx_pcalloc", PCAT_MEM }, { "ngx_alloc", PCAT_MEM },
	{ "ngx_calloc", PCAT_MEM }, { "ngx_pfree", PCAT_MEM }, { "ngx_*_pool*", PCAT_MEM }, { "ngx_*pool", PCAT_MEM },
	{ "ck_malloc", PCAT_MEM }, { "ck_calloc", PCAT_MEM }, { "ck_realloc*", PCAT_MEM },	/* lighttpd */
	/* user-level thread management: thread libraries, contexts, futexes */
	{ "pthread_*", PCAT_ULT }, { "__pthread_*", PCAT_ULT }, { "___pthread_*", PCAT_ULT },
	{ "start_thread", PCAT_ULT }, { "*swapcontext", PCAT_ULT }, { "*makecontext", PCAT_ULT },
	{ "*getcontext", PCAT_ULT }, { "*setcontext", PCAT_ULT }, { "__start_context", PCAT_ULT },
	{ "__lll_*", PCAT_ULT }, { "__GI___lll_*", PCAT_ULT }, { "sem_*", PCAT_ULT }, { "__new_sem_*", PCAT_ULT },
	{ "*futex*", PCAT_ULT }, { "ult_*", PCAT_ULT },					/* amped's ULT model */
	/* scheduling and context switches */
	{ "schedule*", PCAT_SCHED }, { "__schedule", PCAT_SCHED }, { "__switch_to*", PCAT_SCHED },
	{ "finish_task_switch*", PCAT_SCHED }, { "pick_next_*", PCAT_SCHED }, { "*_task_fair", PCAT_SCHED },
	{ "enqueue_*", PCAT_SCHED }, { "dequeue_*", PCAT_SCHED }, { "*try_to_wake_up", PCAT_SCHED },
	{ "ttwu_*", PCAT_SCHED }, { "wake_up_*", PCAT_SCHED }, { "__wake_up*", PCAT_SCHED },
	{ "autoremove_wake_function", PCAT_SCHED }, { "default_wake_function", PCAT_SCHED },
	{ "select_task_rq*", PCAT_SCHED }, { "update_curr*", PCAT_SCHED }, { "update_load_avg", PCAT_SCHED },
	{ "update_rq_clock*", PCAT_SCHED }, { "psi_*", PCAT_SCHED }, { "sched_balance*", PCAT_SCHED },
	{ "sched_ttwu*", PCAT_SCHED }, { "sched_core_*", PCAT_SCHED }, { "sched_submit_work", PCAT_SCHED },
	{ "sched_update_worker", PCAT_SCHED },	/* not sched_*: sched_clock is a clock */
	{ "check_preempt*", PCAT_SCHED }, { "resched_curr", PCAT_SCHED }, { "set_next_entity", PCAT_SCHED },
	{ "put_prev_*", PCAT_SCHED }, { "context_switch", PCAT_SCHED }, { "prepare_task_switch", PCAT_SCHED },
	{ "*sys_sched_yield", PCAT_SCHED }, { "sched_yield", PCAT_SCHED }, { "yield*", PCAT_SCHED },
	{ "__cond_resched", PCAT_SCHED }, { "preempt_schedule*", PCAT_SCHED }, { "hrtick*", PCAT_SCHED },
	{ "raw_spin_rq_*", PCAT_SCHED }, { "update_cfs_*", PCAT_SCHED }, { "reweight_*", PCAT_SCHED },
	/* file system and page cache */
	{ "vfs_*", PCAT_FS }, { "filemap_*", PCAT_FS }, { "__filemap_*", PCAT_FS }, { "generic_file_*", PCAT_FS },
	{ "generic_perform_*", PCAT_FS }, { "folio_*", PCAT_FS }, { "__folio_*", PCAT_FS }, { "page_cache_*", PCAT_FS },
	{ "pagecache_*", PCAT_FS }, { "*readahead*", PCAT_FS }, { "ext4_*", PCAT_FS }, { "xfs_*", PCAT_FS },
	{ "btrfs_*", PCAT_FS }, { "fuse_*", PCAT_FS }, { "shmem_*", PCAT_FS }, { "ovl_*", PCAT_FS },
	{ "do_sys_open*", PCAT_FS }, { "do_filp_open", PCAT_FS }, { "path_*", PCAT_FS }, { "link_path_walk*", PCAT_FS },
	{ "walk_component", PCAT_FS }, { "lookup_*", PCAT_FS }, { "__lookup_*", PCAT_FS }, { "d_*", PCAT_FS },
	{ "__d_*", PCAT_FS }, { "dput", PCAT_FS }, { "step_into", PCAT_FS }, { "do_dentry_open", PCAT_FS },
	{ "__fput*", PCAT_FS }, { "fput*", PCAT_FS }, { "filp_close", PCAT_FS }, { "*close_fd*", PCAT_FS },
	{ "alloc_fd", PCAT_FS }, { "fd_install", PCAT_FS }, { "alloc_empty_file", PCAT_FS }, { "do_statx*", PCAT_FS },
	{ "cp_new_stat*", PCAT_FS }, { "*sys_*stat*", PCAT_FS }, { "*sys_open*", PCAT_FS }, { "*sys_close", PCAT_FS },
	{ "touch_atime", PCAT_FS }, { "atime_needs_update", PCAT_FS }, { "do_sendfile", PCAT_FS },
	{ "*splice*", PCAT_FS }, { "*sys_pread64", PCAT_FS }, { "*sys_read", PCAT_FS }, { "ksys_read", PCAT_FS },
	{ "*sys_sendfile64", PCAT_FS }, { "mark_page_accessed", PCAT_FS }, { "file_*", PCAT_FS },
	{ "do_truncate", PCAT_FS }, { "mntput*", PCAT_FS }, { "terminate_walk", PCAT_FS }, { "open_last_lookups", PCAT_FS },
	/* the kernel network stack, and the socket system calls into it */
	{ "tcp_*", PCAT_NET }, { "__tcp_*", PCAT_NET }, { "inet_*", PCAT_NET }, { "__inet_*", PCAT_NET },
	{ "inet6_*", PCAT_NET }, { "ip_*", PCAT_NET }, { "__ip_*", PCAT_NET }, { "ip6_*", PCAT_NET }, { "ipv6_*", PCAT_NET },
	{ "ipv4_*", PCAT_NET }, { "udp*", PCAT_NET }, { "sock_*", PCAT_NET }, { "__sock_*", PCAT_NET }, { "sk_*", PCAT_NET },
	{ "__sk_*", PCAT_NET }, { "skb_*", PCAT_NET }, { "__skb_*", PCAT_NET }, { "*_skb", PCAT_NET }, { "*kfree_skb*", PCAT_NET },
	{ "*alloc_skb*", PCAT_NET }, { "net_*", PCAT_NET }, { "__net*", PCAT_NET }, { "netif_*", PCAT_NET },
	{ "__netif_*", PCAT_NET }, { "napi_*", PCAT_NET }, { "__napi_*", PCAT_NET }, { "process_backlog", PCAT_NET },
	{ "dev_*", PCAT_NET }, { "__dev_*", PCAT_NET }, { "loopback_*", PCAT_NET }, { "nf_*", PCAT_NET },
	{ "neigh_*", PCAT_NET }, { "dst_*", PCAT_NET }, { "validate_xmit_*", PCAT_NET }, { "sch_direct_xmit", PCAT_NET },
	{ "__qdisc_*", PCAT_NET }, { "qdisc_*", PCAT_NET }, { "lock_sock*", PCAT_NET }, { "release_sock", PCAT_NET },
	{ "sockfd_lookup*", PCAT_NET }, { "__sys_accept*", PCAT_NET }, { "do_accept", PCAT_NET }, { "*sys_accept*", PCAT_NET },
	{ "__sys_send*", PCAT_NET }, { "__sys_recv*", PCAT_NET }, { "*sys_sendmsg", PCAT_NET }, { "*sys_recvmsg", PCAT_NET },
	{ "____sys_*msg", PCAT_NET }, { "___sys_*msg", PCAT_NET }, { "*sys_sendto", PCAT_NET }, { "*sys_recvfrom", PCAT_NET },
	{ "*sys_shutdown", PCAT_NET }, { "__sys_setsockopt", PCAT_NET }, { "*sys_setsockopt", PCAT_NET },
	{ "security_socket_*", PCAT_NET }, { "security_sock_*", PCAT_NET }, { "*_sock_*", PCAT_NET },
	{ "__x64_sys_socket*", PCAT_NET }, { "move_addr_to_user", PCAT_NET }, { "__local_bh_enable_ip", PCAT_NET },
	{ "do_softirq*", PCAT_NET }, { "__do_softirq", PCAT_NET }, { "handle_softirqs", PCAT_NET },
	{ "accept*", PCAT_NET }, { "__libc_accept*", PCAT_NET }, { "send*", PCAT_NET }, { "recv*", PCAT_NET },
	{ "__libc_send*", PCAT_NET }, { "__libc_recv*", PCAT_NET },
	/* the servers' own code (a user frame in their files) */
	{ "exe:amped", PCAT_HTTP }, { "exe:nginx", PCAT_HTTP }, { "exe:lighttpd", PCAT_HTTP },
	{ "exe:mod_*.so", PCAT_HTTP }, { "exe:h2o", PCAT_HTTP }, { "exe:floor", PCAT_HTTP },
	{ "ngx_*", PCAT_HTTP }, { "http_*", PCAT_HTTP },
};

struct pcat *pcat_new(void)
{
	return calloc(1, sizeof(struct pcat));
}

int pcat_of(const char *name)
{
	for (int c = 0; c < PCAT_N; c++)
		if (!strcmp(name, pcat_id[c]))
			return c;
	return -1;
}

int pcat_add(struct pcat *t, const char *pat, int cat)
{
	struct rule *r;

	if (cat < 0 || cat >= PCAT_N || !*pat || !strcmp(pat, "exe:"))
		return -EINVAL;
	if (t->n == PCAT_RULES_MAX)
		return -ENOSPC;
	r = &t->r[t->n];
	if (!(r->pat = strdup(pat)))
		return -ENOMEM;
	r->exe = !strncmp(pat, "exe:", 4);
	r->glob = r->exe ? r->pat + 4 : r->pat;
	r->cat = cat;
	t->n++;
	return 0;
}

int pcat_read(struct pcat *t, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int ln = 0, rc = 0;

	if (!f) {
		fprintf(stderr, "ampstat: --rules %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char pat[256], cat[64], extra[8];
		int n, c, e;

		ln++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "ampstat: %s:%d: line too long\n", path, ln);
			rc = -1;
			break;
		}
		*strchrnul(line, '#') = 0;
		n = sscanf(line, "%255s %63s %7s", pat, cat, extra);
		if (n <= 0)
			continue;
		c = n == 2 ? pcat_of(cat) : -1;
		e = c < 0 ? -EINVAL : pcat_add(t, pat, c);
		if (e) {
			fprintf(stderr, "ampstat: %s:%d: ", path, ln);
			if (e == -EINVAL) {
				fprintf(stderr, "want 'PATTERN CATEGORY' with CATEGORY one of");
				for (int i = 0; i < PCAT_N; i++)
					fprintf(stderr, " %s", pcat_id[i]);
				fprintf(stderr, "\n");
			} else {
				fprintf(stderr, "%s\n", e == -ENOSPC ? "too many rules" : strerror(-e));
			}
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

int pcat_builtin(struct pcat *t)
{
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		int e = pcat_add(t, builtin[i].pat, builtin[i].cat);

		if (e)
			return e;
	}
	return 0;
}

void pcat_list(const struct pcat *t, FILE *f)
{
	for (int i = 0; i < t->n; i++)
		fprintf(f, "%s %s\n", t->r[i].pat, pcat_id[t->r[i].cat]);
}

int pcat_match(const struct pcat *t, const struct pcat_frame *frames, int n, bool user, int *decided)
{
	*decided = -1;
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < t->n; j++) {
			const struct rule *r = &t->r[j];

			if (r->exe ? frames[i].file && !fnmatch(r->glob, frames[i].file, 0)
				   : !fnmatch(r->glob, frames[i].name, 0)) {
				*decided = i;
				return r->cat;
			}
		}
	}
	return user ? PCAT_OTHER_USER : PCAT_OTHER_KERNEL;
}

void pcat_free(struct pcat *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->n; i++)
		free(t->r[i].pat);
	free(t);
}
