/* trace — see trace.h. */
#include <dirent.h>
#include <errno.h>
#include <linux/magic.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ampstat/sess.h"
#include "ampstat/trace.h"
#include "sched.skel.h"
#include "oncpu.skel.h"

const char *const tr_kclass_name[AK_N] = { "ksoftirqd", "kworker", "block", "other_kthreads" };

/* top's pins, in /sys/fs/bpf/amped/PID/ beside the subcommands' folders */
static const char *const pin_names[] = { "threads", "targets", "samples", "exited", NULL };

struct tr {
	struct sched_bpf *sched;
	struct oncpu_bpf *oncpu;
	struct bpf_link **perf_links;
	int *perf_fds;
	int ncpu;
	int ncpu_on;		/* CPUs with a sampling event */
	__u64 period_ns;
	__u64 torn;
};

static void errf(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- open */

static int open_perf(struct tr *tr, int hz, char *err, size_t errlen)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(a),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_period = 1000000000ULL / (unsigned)hz,	/* ns of CPU clock */
	};
	int attached = 0;

	tr->ncpu = libbpf_num_possible_cpus();
	if (tr->ncpu <= 0) {
		errf(err, errlen, "cannot count CPUs");
		return -EINVAL;
	}
	tr->perf_fds = calloc((size_t)tr->ncpu, sizeof(int));
	tr->perf_links = calloc((size_t)tr->ncpu, sizeof(*tr->perf_links));
	if (!tr->perf_fds || !tr->perf_links)
		return -ENOMEM;
	for (int c = 0; c < tr->ncpu; c++)
		tr->perf_fds[c] = -1;
	for (int c = 0; c < tr->ncpu; c++) {
		int fd = (int)syscall(__NR_perf_event_open, &a, -1, c, -1, PERF_FLAG_FD_CLOEXEC);

		if (fd < 0) {
			if (errno == ENODEV)	/* possible but offline CPU */
				continue;
			errf(err, errlen, "perf_event_open(cpu-clock, cpu %d): %s", c, strerror(errno));
			return -errno;
		}
		tr->perf_fds[c] = fd;
		tr->perf_links[c] = bpf_program__attach_perf_event(tr->oncpu->progs.as_sample, fd);
		if (!tr->perf_links[c]) {
			errf(err, errlen, "attach perf_event program on cpu %d: %s", c, strerror(errno));
			return -errno;
		}
		attached++;
	}
	tr->ncpu_on = attached;
	tr->period_ns = a.sample_period;
	return attached ? 0 : -ENODEV;
}

int tr_open(struct tr **out, struct sess *s, const struct tr_opts *o, char *err, size_t errlen)
{
	struct tr *tr = calloc(1, sizeof(*tr));
	int e;

	*out = NULL;
	if (!tr)
		return -ENOMEM;
	tr->sched = sched_bpf__open();
	if (!tr->sched) {
		e = -errno;
		errf(err, errlen, "open sched.bpf.o: %s", strerror(-e));
		goto fail;
	}
	tr->sched->rodata->follow_forks = o->follow_forks;
	bpf_program__set_autoattach(tr->sched->progs.as_seed, false);
	if (!o->cache) {	/* mode_tp_select leaves their twins out too */
		bpf_program__set_autoload(tr->sched->progs.as_cache_add, false);
		bpf_program__set_autoload(tr->sched->progs.as_cache_get, false);
		bpf_program__set_autoload(tr->sched->progs.as_cache_map, false);
		bpf_program__set_autoload(tr->sched->progs.as_cache_fault, false);
	}
	e = sess_load(s, tr->sched->skeleton);
	if (e) {
		errf(err, errlen, "cannot load sched.bpf.o");
		goto fail;
	}
	tr->oncpu = oncpu_bpf__open();
	if (!tr->oncpu) {
		e = -errno;
		errf(err, errlen, "open oncpu.bpf.o: %s", strerror(-e));
		goto fail;
	}
	e = bpf_map__reuse_fd(tr->oncpu->maps.targets, bpf_map__fd(tr->sched->maps.targets));
	if (!e)
		e = bpf_map__reuse_fd(tr->oncpu->maps.fast, bpf_map__fd(tr->sched->maps.fast));
	if (!e)
		e = bpf_map__reuse_fd(tr->oncpu->maps.samples, bpf_map__fd(tr->sched->maps.samples));
	if (!e)
		e = sess_load(s, tr->oncpu->skeleton);
	if (e) {
		errf(err, errlen, "cannot load oncpu.bpf.o");
		goto fail;
	}
	e = sess_targets(s, bpf_map__fd(tr->sched->maps.targets), bpf_map__fd(tr->sched->maps.fast));
	if (e) {
		errf(err, errlen, "add pid %d: %s", (int)s->pid, strerror(-e));
		goto fail;
	}
	e = sess_attach(s, tr->sched->skeleton);
	if (e) {
		errf(err, errlen, "attach sched tracepoints: %s", strerror(-e));
		goto fail;
	}
	e = open_perf(tr, o->sample_hz, err, errlen);
	if (e)
		goto fail;
	if (o->pin)	/* a warning when it cannot: go on */
		sess_pin(s, tr->sched->obj, NULL, pin_names);
	*out = tr;
	return 0;
fail:
	tr_close(tr);
	return e ? e : -EINVAL;
}

int tr_seed(struct tr *tr)
{
	struct bpf_link *link = bpf_program__attach_iter(tr->sched->progs.as_seed, NULL);
	char buf[256];
	int fd, e = 0;

	if (!link)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		e = -errno;
	} else {
		ssize_t n;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		if (n < 0)
			e = -errno;
		close(fd);
	}
	bpf_link__destroy(link);
	return e;
}

/* Two copies that agree, with an even seq, are one consistent state. */
static int read_thread(struct tr *tr, int fd, __u32 tid, struct ampstat_thread *t)
{
	struct ampstat_thread b;

	for (int i = 0; i < 16; i++) {
		if (bpf_map_lookup_elem(fd, &tid, t) || bpf_map_lookup_elem(fd, &tid, &b))
			return -errno;
		if (!(t->seq & 1) && memcmp(t, &b, sizeof(b)) == 0)
			return 0;
	}
	tr->torn++;
	return 0;
}

int tr_threads(struct tr *tr, tr_thread_cb cb, void *ctx)
{
	int tfd = bpf_map__fd(tr->sched->maps.threads);
	int sfd = bpf_map__fd(tr->sched->maps.samples);
	int efd = bpf_map__fd(tr->sched->maps.exited);
	struct ampstat_exit_key ek, enext;
	void *prev = NULL;
	__u32 key, next;
	int n = 0;

	/* exited entries are written once, then only read */
	while (bpf_map_get_next_key(efd, prev, &enext) == 0) {
		struct ampstat_exited e;

		ek = enext;
		prev = &ek;
		if (bpf_map_lookup_elem(efd, &ek, &e))
			continue;
		cb(ctx, &e.t, &e.s);
		n++;
	}
	prev = NULL;
	while (bpf_map_get_next_key(tfd, prev, &next) == 0) {
		struct ampstat_thread t;
		struct ampstat_samples s = {};

		key = next;
		prev = &key;
		if (read_thread(tr, tfd, key, &t))
			continue;
		bpf_map_lookup_elem(sfd, &key, &s);
		cb(ctx, &t, &s);
		n++;
	}
	return n;
}

void tr_forget(struct tr *tr, __u32 tid, __u64 start_ns)
{
	struct ampstat_exit_key k = { .tid = tid, .start_ns = start_ns };

	bpf_map_delete_elem(bpf_map__fd(tr->sched->maps.exited), &k);
}

int tr_tgids(struct tr *tr, pid_t *out, int max)
{
	int fd = bpf_map__fd(tr->sched->maps.targets), n = 0;
	__u32 key, next;
	void *prev = NULL;

	while (n < max && bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		out[n++] = (pid_t)key;
	}
	return n;
}

void tr_drops(struct tr *tr, struct tr_drops *d)
{
	d->threads = tr->sched->bss->dropped_threads;
	d->tgids = tr->sched->bss->dropped_tgids;
	d->samples = tr->oncpu->bss->dropped_samples;
	d->torn = tr->torn;
	d->cache = tr->sched->bss->dropped_cache;
}

int tr_kern(struct tr *tr, struct tr_kern *k)
{
	struct ampstat_kern *kv = calloc((size_t)tr->ncpu, sizeof(*kv));
	struct ampstat_ksamp *sv = calloc((size_t)tr->ncpu, sizeof(*sv));
	__u32 zero = 0;
	int e = 0;

	memset(k, 0, sizeof(*k));
	k->period_ns = tr->period_ns;
	k->ncpu = tr->ncpu_on;
	if (!kv || !sv) {
		e = -ENOMEM;
	} else if (bpf_map_lookup_elem(bpf_map__fd(tr->sched->maps.kern), &zero, kv) ||
		   bpf_map_lookup_elem(bpf_map__fd(tr->oncpu->maps.ksamp), &zero, sv)) {
		e = -errno;
	} else {
		for (int c = 0; c < tr->ncpu; c++) {
			for (int i = 0; i < AK_N; i++) {
				k->ns[i] += kv[c].ns[i];
				k->runs[i] += kv[c].runs[i];
			}
			k->s.total += sv[c].total;
			k->s.softirq_target += sv[c].softirq_target;
			k->s.softirq_kthread += sv[c].softirq_kthread;
			k->s.softirq_other += sv[c].softirq_other;
		}
	}
	free(kv);
	free(sv);
	return e;
}

void tr_close(struct tr *tr)
{
	if (!tr)
		return;
	for (int c = 0; tr->perf_links && c < tr->ncpu; c++)
		bpf_link__destroy(tr->perf_links[c]);
	for (int c = 0; tr->perf_fds && c < tr->ncpu; c++)
		if (tr->perf_fds[c] >= 0)
			close(tr->perf_fds[c]);
	free(tr->perf_links);
	free(tr->perf_fds);
	sched_bpf__destroy(tr->sched);
	oncpu_bpf__destroy(tr->oncpu);
	free(tr);
}
