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
#include "ampstat/mode.h"
#include "ampstat/trace.h"
#include "sched.skel.h"
#include "oncpu.skel.h"

const char *const tr_kclass_name[AK_N] = { "ksoftirqd", "kworker", "block", "other_kthreads" };

#define PIN_ROOT "/sys/fs/bpf/amped"

struct tr {
	struct sched_bpf *sched;
	struct oncpu_bpf *oncpu;
	struct bpf_link **perf_links;
	int *perf_fds;
	int ncpu;
	int ncpu_on;		/* CPUs with a sampling event */
	__u64 period_ns;
	int stats_fd;
	struct ampstat_fast *fast;	/* the `fast` map, mmapped */
	size_t fast_len;
	__u64 torn;
	char pin_dir[128];	/* "" when not pinned */
};

static void errf(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- pins */

static const char *pin_names[] = { "threads", "targets", "samples", "exited" };

static void pin_remove_dir(const char *dir)
{
	char p[256];

	for (size_t i = 0; i < sizeof(pin_names) / sizeof(pin_names[0]); i++) {
		snprintf(p, sizeof(p), "%.200s/%s", dir, pin_names[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* A pinned map is stale when no loaded program uses it: the ampstat that
 * pinned it was killed before it could unpin. */
static bool pin_in_use(const char *dir)
{
	char p[256];
	struct bpf_map_info mi = {};
	__u32 len = sizeof(mi), id = 0;
	bool used = false;
	int fd;

	snprintf(p, sizeof(p), "%.200s/threads", dir);
	fd = bpf_obj_get(p);
	if (fd < 0)
		return false;
	if (bpf_obj_get_info_by_fd(fd, &mi, &len)) {
		close(fd);
		return true;	/* cannot tell: leave it alone */
	}
	close(fd);
	while (!used && bpf_prog_get_next_id(id, &id) == 0) {
		__u32 ids[64];
		struct bpf_prog_info pi = {};
		__u32 plen = sizeof(pi);
		int pfd = bpf_prog_get_fd_by_id(id);

		if (pfd < 0)
			continue;
		pi.nr_map_ids = 64;
		pi.map_ids = (__u64)(unsigned long)ids;
		if (bpf_obj_get_info_by_fd(pfd, &pi, &plen) == 0)
			for (__u32 i = 0; i < pi.nr_map_ids && i < 64; i++)
				if (ids[i] == mi.id)
					used = true;
		close(pfd);
	}
	return used;
}

/* Remove the pins of processes that are gone, and of ampstats that are. */
static void pin_clean_stale(void)
{
	struct dirent *de;
	DIR *d = opendir(PIN_ROOT);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char dir[256], *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		snprintf(dir, sizeof(dir), "%s/%ld", PIN_ROOT, pid);
		if ((kill((pid_t)pid, 0) && errno == ESRCH) || !pin_in_use(dir))
			pin_remove_dir(dir);
	}
	closedir(d);
}

static int pin_setup(struct tr *tr, pid_t pid, char *err, size_t errlen)
{
	struct statfs sfs;
	char dir[128];
	struct bpf_map *maps[4];

	if (statfs("/sys/fs/bpf", &sfs) || sfs.f_type != BPF_FS_MAGIC) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			errf(err, errlen, "cannot mount bpffs on /sys/fs/bpf: %s", strerror(errno));
			return -errno;
		}
	}
	if (mkdir(PIN_ROOT, 0700) && errno != EEXIST) {
		errf(err, errlen, "mkdir %s: %s", PIN_ROOT, strerror(errno));
		return -errno;
	}
	pin_clean_stale();
	snprintf(dir, sizeof(dir), "%s/%d", PIN_ROOT, (int)pid);
	/* the folder may hold the other subcommands' folders (mode_pin):
	 * another top is told by its `threads` pin */
	if (mkdir(dir, 0700) && errno != EEXIST) {
		int e = errno;
		errf(err, errlen, "%s: %s", dir, strerror(e));
		return -e;
	}
	maps[0] = tr->sched->maps.threads;
	maps[1] = tr->sched->maps.targets;
	maps[2] = tr->sched->maps.samples;
	maps[3] = tr->sched->maps.exited;
	for (int i = 0; i < 4; i++) {
		char p[256];
		snprintf(p, sizeof(p), "%.200s/%s", dir, pin_names[i]);
		if (bpf_map__pin(maps[i], p)) {
			int e = errno;
			errf(err, errlen, "pin %s: %s%s", p, strerror(e),
			     !i && e == EEXIST ? " (another ampstat traces this process)" : "");
			return -e;
		}
		if (!i)		/* ours from now on: tr_close removes them */
			snprintf(tr->pin_dir, sizeof(tr->pin_dir), "%s", dir);
	}
	return 0;
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

int tr_open(struct tr **out, const struct tr_opts *o, char *err, size_t errlen)
{
	struct tr *tr = calloc(1, sizeof(*tr));
	int e;

	*out = NULL;
	if (!tr)
		return -ENOMEM;
	tr->stats_fd = -1;
	tr->sched = sched_bpf__open();
	if (!tr->sched) {
		e = -errno;
		errf(err, errlen, "open sched.bpf.o: %s", strerror(-e));
		goto fail;
	}
	tr->sched->rodata->follow_forks = o->follow_forks;
	bpf_program__set_autoattach(tr->sched->progs.as_seed, false);
	mode_tp_select(tr->sched->obj);	/* tp_btf, or the raw_tp twins */
	e = sched_bpf__load(tr->sched);
	if (e) {
		errf(err, errlen, "load sched.bpf.o: %s (-v shows the verifier log)", strerror(-e));
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
		e = oncpu_bpf__load(tr->oncpu);
	if (e) {
		errf(err, errlen, "load oncpu.bpf.o: %s", strerror(-e));
		goto fail;
	}
	tr->fast_len = ((sizeof(struct ampstat_fast) + 4095) / 4096) * 4096;
	tr->fast = mmap(NULL, tr->fast_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			bpf_map__fd(tr->sched->maps.fast), 0);
	if (tr->fast == MAP_FAILED) {
		tr->fast = NULL;
		e = -errno;
		errf(err, errlen, "mmap the tgid array: %s", strerror(-e));
		goto fail;
	}
	/* statistics before attaching, so the first run is counted */
	tr->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	e = tr_add_tgid(tr, o->pid);
	if (e) {
		errf(err, errlen, "add pid %d: %s", (int)o->pid, strerror(-e));
		goto fail;
	}
	e = sched_bpf__attach(tr->sched);
	if (e) {
		errf(err, errlen, "attach sched tracepoints: %s", strerror(-e));
		goto fail;
	}
	e = open_perf(tr, o->sample_hz, err, errlen);
	if (e)
		goto fail;
	if (o->pin && pin_setup(tr, o->pid, err, errlen))
		fprintf(stderr, "ampstat: warning: maps not pinned: %s\n", err);
	*out = tr;
	return 0;
fail:
	tr_close(tr);
	return e ? e : -EINVAL;
}

int tr_add_tgid(struct tr *tr, pid_t tgid)
{
	__u32 k = (__u32)tgid, one = 1, i;

	if (bpf_map_update_elem(bpf_map__fd(tr->sched->maps.targets), &k, &one, BPF_NOEXIST))
		return errno == EEXIST ? 0 : -errno;
	/* our slots only (see include/ampstat_targets.h): the slot, then the count */
	i = tr->fast->nuser;
	if (i < AMPSTAT_FAST_USER) {
		__atomic_store_n(&tr->fast->tgid[i], k, __ATOMIC_SEQ_CST);
		__atomic_store_n(&tr->fast->nuser, i + 1, __ATOMIC_SEQ_CST);
	} else {
		__atomic_store_n(&tr->fast->overflow, 1, __ATOMIC_SEQ_CST);
	}
	return 0;
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

/* the loaded programs (tp_btf or their raw_tp twins), not the iterator */
int tr_progs(struct tr *tr, struct tr_prog *out, int max)
{
	int n = mode_progs(tr->sched->obj, out, max);

	return n + mode_progs(tr->oncpu->obj, out + n, max - n);
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

const char *tr_pin_dir(struct tr *tr)
{
	return tr->pin_dir[0] ? tr->pin_dir : NULL;
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
	if (tr->pin_dir[0])
		pin_remove_dir(tr->pin_dir);
	if (tr->fast)
		munmap(tr->fast, tr->fast_len);
	sched_bpf__destroy(tr->sched);
	oncpu_bpf__destroy(tr->oncpu);
	if (tr->stats_fd >= 0)
		close(tr->stats_fd);
	free(tr);
}
