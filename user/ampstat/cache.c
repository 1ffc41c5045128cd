/* cache — `ampstat cache`: page-cache accesses and misses of the server,
 * per role and for the files it touched most (bpf/cache.bpf.c).
 *
 * Accesses are pages asked for (read/pread/sendfile/splice) or mapped by
 * mmap faults; misses are pages the server's threads put into the cache
 * (readahead included); hits are accesses less misses.  A miss in the
 * dispatcher is a page the server guessed resident and was not (AMPED's
 * dispatcher only touches data it believes resident); helpers' misses are
 * the misses it expected.  Files are known by (device, inode); their paths
 * come from the target's open files and mappings (/proc/PID/fd, maps),
 * looked at every tick while it runs, then from a bounded search of its
 * document root (amped's --root, else its working directory, or --search).
 *
 * --json: {"type":"summary", "pid", "comm", "duration_s", "end", "roles":
 * [{"role", "read_pages", "mmap_pages", "accesses", "misses", "hits",
 * "hit_ratio"}], "files": [{"dev": "MAJ:MIN", "ino", "path" (null if not
 * found), the same counts}], "files_total", "bpf": {...}, "dropped":
 * {"files", "roles", "tgids"}}. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ampstat_cache.h"
#include "ampstat/cmd.h"
#include "ampstat/sess.h"
#include "ampstat/roles.h"
#include "ampstat/usdt.h"
#include "cache.skel.h"

#define MAX_TGIDS 256
#define MAX_SEARCH 8
#define WALK_MAX_ENTRIES 200000
#define WALK_MAX_NS 3000000000ULL

struct cfile {
	struct ampstat_cache_fkey k;
	struct ampstat_cache_val v;
	char *path;
};

struct crun {
	pid_t pid;
	char comm[32];
	int files_fd, targets_fd;
	struct cfile *f;
	int nf, cap;
	int unresolved;
	const char *search[MAX_SEARCH];
	int nsearch;
	bool res_probe;		/* amped's residency_miss probe was attached */
};

static __u64 kdev(dev_t d)
{
	return ((__u64)major(d) << 20) | (__u64)minor(d);
}

static int key_cmp(const struct ampstat_cache_fkey *a, const struct ampstat_cache_fkey *b)
{
	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	return a->ino == b->ino ? 0 : a->ino < b->ino ? -1 : 1;
}

/* r->f is kept sorted by key (until report sorts it by counts): a server
 * touches thousands of files and the map holds up to 65536 */
static struct cfile *find_file(struct crun *r, const struct ampstat_cache_fkey *k, bool add)
{
	int lo = 0, hi = r->nf;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2, c = key_cmp(&r->f[mid].k, k);
		if (!c)
			return &r->f[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!add)
		return NULL;
	if (r->nf == r->cap) {
		int n = r->cap ? r->cap * 2 : 64;
		struct cfile *a = realloc(r->f, (size_t)n * sizeof(*a));
		if (!a)
			return NULL;
		r->f = a;
		r->cap = n;
	}
	memmove(&r->f[lo + 1], &r->f[lo], (size_t)(r->nf - lo) * sizeof(r->f[0]));
	memset(&r->f[lo], 0, sizeof(r->f[0]));
	r->f[lo].k = *k;
	r->nf++;
	r->unresolved++;
	return &r->f[lo];
}

static void name_file(struct crun *r, dev_t dev, ino_t ino, const char *path)
{
	struct ampstat_cache_fkey k = { .dev = kdev(dev), .ino = ino };
	struct cfile *f = find_file(r, &k, false);

	if (f && !f->path) {
		f->path = strdup(path);
		if (f->path)
			r->unresolved--;
	}
}

/* the files the map knows now, with their counts */
static void read_files(struct crun *r)
{
	struct ampstat_cache_fkey key, next;
	void *prev = NULL;

	while (bpf_map_get_next_key(r->files_fd, prev, &next) == 0) {
		struct ampstat_cache_val v;
		struct cfile *f;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(r->files_fd, &key, &v))
			continue;
		f = find_file(r, &key, true);
		if (f)
			f->v = v;
	}
}

static void scan_fds(struct crun *r, pid_t pid)
{
	char dir[64], p[384], target[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return;
	while (r->unresolved && (de = readdir(d))) {
		struct stat st;
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (stat(p, &st) || !S_ISREG(st.st_mode))
			continue;
		n = readlink(p, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		name_file(r, st.st_dev, st.st_ino, target);
	}
	closedir(d);
}

static void scan_maps(struct crun *r, pid_t pid)
{
	char p[64], line[PATH_MAX + 128];
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/maps", (int)pid);
	f = fopen(p, "r");
	if (!f)
		return;
	while (r->unresolved && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long long ino;
		int off = 0;

		if (sscanf(line, "%*s %*s %*s %x:%x %llu %n", &maj, &min, &ino, &off) < 3 || !ino || !off)
			continue;
		line[strcspn(line, "\n")] = 0;
		if (line[off] == '/')
			name_file(r, makedev(maj, min), (ino_t)ino, line + off);
	}
	fclose(f);
}

static void scan_procs(struct crun *r)
{
	__u32 key, next;
	void *prev = NULL;
	int n = 0;

	while (r->unresolved && n++ < MAX_TGIDS && bpf_map_get_next_key(r->targets_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		scan_fds(r, (pid_t)key);
		scan_maps(r, (pid_t)key);
	}
}

/* (the session notes the roles of the live threads at every tick:
 * cache_roles is keyed by tid, and one that exits keeps its role) */
static void scan(struct crun *r)
{
	read_files(r);
	if (r->unresolved)
		scan_procs(r);
}

/* a bounded depth-first search of dir for the files still unnamed */
static void walk(struct crun *r, const char *dir, int depth, long *entries, __u64 deadline)
{
	struct dirent *de;
	DIR *d;

	if (depth > 32 || !r->unresolved)
		return;
	d = opendir(dir);
	if (!d)
		return;
	while (r->unresolved && (de = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;

		if (++*entries > WALK_MAX_ENTRIES || mode_now_ns() > deadline)
			break;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p))
			continue;
		if (lstat(p, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			walk(r, p, depth + 1, entries, deadline);
		else if (S_ISREG(st.st_mode))
			name_file(r, st.st_dev, st.st_ino, p);
	}
	closedir(d);
}

/* amped's document root: the argument of --root (or --root=) */
static bool amped_root(pid_t pid, char *out, size_t n)
{
	char p[64], buf[8192], cwd[PATH_MAX];
	ssize_t len;
	int fd;

	snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return false;
	buf[len] = 0;
	for (char *a = buf; a < buf + len; a += strlen(a) + 1) {
		const char *root = NULL;

		if (!strcmp(a, "--root") && a + strlen(a) + 1 < buf + len)
			root = a + strlen(a) + 1;
		else if (!strncmp(a, "--root=", 7))
			root = a + 7;
		if (!root)
			continue;
		if (root[0] == '/') {
			snprintf(out, n, "%s", root);
		} else {
			snprintf(p, sizeof(p), "/proc/%d/cwd", (int)pid);
			len = readlink(p, cwd, sizeof(cwd) - 1);
			if (len <= 0)
				return false;
			cwd[len] = 0;
			if (snprintf(out, n, "%s/%s", cwd, root) >= (int)n)
				return false;
		}
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------- probe */

/* usdt_sites: the first site with an address */
static int first_site(const struct usdt_site *site, void *arg)
{
	struct usdt_site *out = arg;
	static char args[512];

	if (!site->off)
		return 0;
	snprintf(args, sizeof(args), "%s", site->args);
	*out = *site;
	out->args = args;
	return 1;
}

static double ratio(__u64 hits, __u64 acc)
{
	return acc ? (double)hits / (double)acc : 0.0;
}

struct sums {
	__u64 read, fault, added;
};

static void json_counts(const struct sums *s)
{
	__u64 acc = s->read + s->fault, hits = acc > s->added ? acc - s->added : 0;

	printf("\"read_pages\":%llu,\"mmap_pages\":%llu,\"accesses\":%llu,\"misses\":%llu,"
	       "\"hits\":%llu,\"hit_ratio\":%.4f",
	       (unsigned long long)s->read, (unsigned long long)s->fault, (unsigned long long)acc,
	       (unsigned long long)s->added, (unsigned long long)hits, ratio(hits, acc));
}

static void text_counts(const char *name, const struct sums *s)
{
	__u64 acc = s->read + s->fault, hits = acc > s->added ? acc - s->added : 0;

	printf("%-40.40s %10llu %10llu %10llu %10llu %10llu %6.1f\n", name, (unsigned long long)s->read,
	       (unsigned long long)s->fault, (unsigned long long)acc, (unsigned long long)s->added,
	       (unsigned long long)hits, 100.0 * ratio(hits, acc));
}

static int cmp_files(const void *a, const void *b)
{
	const struct cfile *x = a, *y = b;
	__u64 ax = x->v.read + x->v.fault + x->v.added, ay = y->v.read + y->v.fault + y->v.added;

	return ax == ay ? 0 : ax < ay ? 1 : -1;
}

/* The server's residency guesses against what happened: with AMPED's
 * roles, the dispatcher touches only data it believes resident, so each
 * page it brought in was a wrong "resident"; the pages predicted not
 * resident (amped's residency_miss probe) that no thread had to bring in
 * were a wrong "not resident" (at least that many: readahead brings in
 * pages beyond the ones predicted, which hides some). */
static void residency(struct crun *r, struct cache_bpf *skel, const struct sums *rs, int nroles, bool json)
{
	__u64 added = 0, disp = 0, pred = skel->bss->res_miss_pages, ev = skel->bss->res_miss_events;
	bool offload = false;

	for (int i = 0; i < nroles; i++) {
		added += rs[i].added;
		/* seda: the http stage's loops guess, the file stage reads */
		if (!strcmp(roles_name(i), "dispatcher") || !strcmp(roles_name(i), "stage-http"))
			disp += rs[i].added;
		else if ((!strcmp(roles_name(i), "helpers") || !strcmp(roles_name(i), "iou-wrk") ||
			  !strcmp(roles_name(i), "stage-file")) &&
			 (rs[i].read || rs[i].fault || rs[i].added))
			offload = true;
	}
	if (!r->res_probe) {
		if (json)
			printf("null");
		else
			printf("residency guesses: not available (the target has no amped:residency_miss probe)\n");
		return;
	}
	/* SPED reads cold data in the dispatcher itself: its misses were
	 * predicted, so they say nothing about wrong guesses */
	__u64 wrong_res = offload ? disp : 0, wrong_not = pred > added ? pred - added : 0;

	if (json) {
		printf("{\"not_resident_guesses\":%llu,\"not_resident_pages\":%llu,\"pages_brought_in\":%llu,"
		       "\"wrong_not_resident_pages\":%llu,\"wrong_resident_pages\":",
		       (unsigned long long)ev, (unsigned long long)pred, (unsigned long long)added,
		       (unsigned long long)wrong_not);
		if (offload)
			printf("%llu}", (unsigned long long)wrong_res);
		else
			printf("null}");
		return;
	}
	printf("residency guesses: %llu \"not resident\" (%llu pages), %llu pages brought in; "
	       "wrong \"not resident\" >= %llu pages",
	       (unsigned long long)ev, (unsigned long long)pred, (unsigned long long)added,
	       (unsigned long long)wrong_not);
	if (offload)
		printf(", wrong \"resident\" %llu pages (missed in the dispatcher)", (unsigned long long)wrong_res);
	printf("\n");
}

static void report(struct crun *r, struct cache_bpf *skel, bool json, int top, double dur_s,
		   const char *why, const struct tr_prog *p0, const struct tr_prog *p1, int np, __u64 cpu)
{
	int nroles = roles_count(), rfd = bpf_map__fd(skel->maps.cache_roles);
	struct sums *rs = calloc((size_t)nroles, sizeof(*rs));
	struct ampstat_cache_rkey key, next;
	void *prev = NULL;
	bool first = true;

	if (!rs)
		return;
	while (bpf_map_get_next_key(rfd, prev, &next) == 0) {
		struct ampstat_cache_val v;
		char comm[AMPSTAT_COMM_LEN + 1];
		int role;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(rfd, &key, &v))
			continue;
		memcpy(comm, key.comm, AMPSTAT_COMM_LEN);
		comm[AMPSTAT_COMM_LEN] = 0;
		role = roles_of_thread((pid_t)key.tgid, (pid_t)key.tid, comm);
		if (role < 0 || role >= nroles)
			continue;
		rs[role].read += v.read;
		rs[role].fault += v.fault;
		rs[role].added += v.added;
	}
	qsort(r->f, (size_t)r->nf, sizeof(r->f[0]), cmp_files);
	if (top > r->nf || !top)
		top = r->nf;
	if (json) {
		printf("{\"type\":\"summary\",\"pid\":%d,\"comm\":", (int)r->pid);
		mode_json_str(stdout, r->comm);
		printf(",\"duration_s\":%.3f,\"end\":\"%s\",\"roles\":[", dur_s, why);
		for (int i = 0; i < nroles; i++) {
			if (!rs[i].read && !rs[i].fault && !rs[i].added)
				continue;
			printf("%s{\"role\":\"%s\",", first ? "" : ",", roles_name(i));
			json_counts(&rs[i]);
			printf("}");
			first = false;
		}
		printf("],\"files_total\":%d,\"files\":[", r->nf);
		for (int i = 0; i < top; i++) {
			struct sums s = { r->f[i].v.read, r->f[i].v.fault, r->f[i].v.added };

			printf("%s{\"dev\":\"%llu:%llu\",\"ino\":%llu,\"path\":", i ? "," : "",
			       (unsigned long long)(r->f[i].k.dev >> 20),
			       (unsigned long long)(r->f[i].k.dev & 0xfffff), (unsigned long long)r->f[i].k.ino);
			if (r->f[i].path)
				mode_json_str(stdout, r->f[i].path);
			else
				printf("null");
			printf(",");
			json_counts(&s);
			printf("}");
		}
		printf("],\"residency\":");
		residency(r, skel, rs, nroles, true);
		printf(",");
		sess_cost(stdout, true, p0, p1, np, cpu, dur_s);
		printf(",\"dropped\":{\"files\":%llu,\"roles\":%llu,\"tgids\":%llu}}\n",
		       (unsigned long long)skel->bss->dropped_files,
		       (unsigned long long)skel->bss->dropped_roles,
		       (unsigned long long)skel->bss->dropped_tgids);
	} else {
		printf("ampstat cache  pid %d (%s)  %.2f s (%s)  pages\n", (int)r->pid, r->comm, dur_s, why);
		printf("%-40s %10s %10s %10s %10s %10s %6s\n", "ROLE", "READ", "MMAP", "ACCESSES", "MISSES",
		       "HITS", "HIT%");
		for (int i = 0; i < nroles; i++)
			if (rs[i].read || rs[i].fault || rs[i].added)
				text_counts(roles_name(i), &rs[i]);
		printf("\n%-40s %10s %10s %10s %10s %10s %6s\n", "FILE", "READ", "MMAP", "ACCESSES", "MISSES",
		       "HITS", "HIT%");
		for (int i = 0; i < top; i++) {
			struct sums s = { r->f[i].v.read, r->f[i].v.fault, r->f[i].v.added };
			char name[64];
			const char *p = r->f[i].path;

			if (!p) {
				snprintf(name, sizeof(name), "dev %llu:%llu ino %llu",
					 (unsigned long long)(r->f[i].k.dev >> 20),
					 (unsigned long long)(r->f[i].k.dev & 0xfffff),
					 (unsigned long long)r->f[i].k.ino);
				p = name;
			} else if (strlen(p) > 40) {
				p += strlen(p) - 40;	/* the end of a path says the most */
			}
			text_counts(p, &s);
		}
		if (r->nf > top)
			printf("(%d more files)\n", r->nf - top);
		residency(r, skel, rs, nroles, false);
		sess_cost(stdout, false, p0, p1, np, cpu, dur_s);
		if (skel->bss->dropped_files || skel->bss->dropped_roles)
			printf("dropped: files %llu, roles %llu\n", (unsigned long long)skel->bss->dropped_files,
			       (unsigned long long)skel->bss->dropped_roles);
	}
	fflush(stdout);
	free(rs);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat cache -p PID [-d SEC] [--json] [-T N] [--search DIR]...\n"
"                     [--role NAME=REGEX]... [--no-follow] [-v]\n"
"\n"
"Page-cache behaviour of the server, per role and for its top files:\n"
"accesses (pages asked for by read/pread/sendfile, or mapped by mmap faults),\n"
"misses (pages its threads brought into the cache, readahead included) and\n"
"hits (accesses less misses).  Misses in the dispatcher are pages the\n"
"server guessed resident and were not.  Files are named from the server's\n"
"open files and mappings, then by searching its document root.\n"
"\n"
"  -p, --pid PID        the server to trace (with the processes it forks)\n"
"  -d, --duration SEC   stop after SEC seconds (default: Ctrl-C or exit)\n"
"      --json           the summary as one JSON object\n"
"  -T, --top N          files to list (default 10, 0: all)\n"
"      --search DIR     where to look for files not open at the end\n"
"                       (default: amped's --root, else the server's cwd)\n"
"      --role NAME=RE   a role for threads whose name matches RE (or a\n"
"                       selector: cmd: exe: leader: thread:)\n"
"      --no-follow      do not trace processes the target forks\n"
"  -v, --verbose        libbpf debug output\n"
"\n"
"examples:\n"
"  ampstat cache -p $(pgrep -x amped) -d 10\n"
"  ampstat cache -p 1234 -d 30 -T 20 --search /srv/www\n"
"  ampstat cache -p 1234 -d 5 --json > cache.json\n"
"\n");
	mode_usage_maps(f, "cache");
	fprintf(f,
"Exit status: 0 ok (duration, Ctrl-C or the target exited: a summary is\n"
"printed), 1 runtime error (not root, no BTF, no such process), 2 usage error.\n");
}

struct cache_ctx {
	struct crun r;
	struct cache_bpf *skel;
	struct bpf_link *res_link;
	size_t probe_off, probe_sem;
	bool have_probe, follow;
	int top;
	char rootdir[PATH_MAX], cwd[64];
};

static int option(struct sess *s, void *ctx, int c, const char *arg)
{
	struct cache_ctx *x = ctx;

	(void)s;
	switch (c) {
	case 'T': return mode_parse_top(arg, 1000000, &x->top) ? 0 : 2;
	case 'S':
		if (x->r.nsearch == MAX_SEARCH) {
			fprintf(stderr, "ampstat: at most %d --search directories\n", MAX_SEARCH);
			return 2;
		}
		x->r.search[x->r.nsearch++] = arg;
		return 0;
	case 'r': return roles_add(arg) ? 2 : 0;
	case 'F': x->follow = false; return 0;
	}
	return 2;
}

/* amped's residency_miss probe, if the target has a usable one */
static void find_probe(struct cache_ctx *x, const char *exe, bool verbose)
{
	struct usdt_site site = { 0 };
	int ro, rl;

	if (usdt_sites(exe, "amped", "residency_miss", first_site, &site) > 0 && site.off &&
	    (ro = usdt_arg_reg(site.args, 2, NULL)) >= 0 && (rl = usdt_arg_reg(site.args, 3, NULL)) >= 0) {
		x->probe_off = site.off;
		x->probe_sem = site.sem_off;
		x->skel->rodata->res_off_reg = (__u32)ro;
		x->skel->rodata->res_len_reg = (__u32)rl;
		x->have_probe = true;
	} else if (verbose) {
		fprintf(stderr, "ampstat: no usable amped:residency_miss probe in %s\n", exe);
	}
}

static int start(struct sess *s, void *ctx)
{
	struct cache_ctx *x = ctx;
	struct crun *r = &x->r;
	char exe[64];

	r->pid = s->pid;
	snprintf(r->comm, sizeof(r->comm), "%s", s->comm);
	if (!r->nsearch) {
		if (amped_root(r->pid, x->rootdir, sizeof(x->rootdir))) {
			r->search[r->nsearch++] = x->rootdir;
		} else {
			snprintf(x->cwd, sizeof(x->cwd), "/proc/%d/cwd", (int)r->pid);
			r->search[r->nsearch++] = x->cwd;
		}
	}
	x->skel = cache_bpf__open();
	if (!x->skel) {
		fprintf(stderr, "ampstat: open cache.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	x->skel->rodata->follow_forks = x->follow;
	bpf_program__set_autoattach(x->skel->progs.am_res_miss, false);
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)r->pid);
	find_probe(x, exe, s->verbose);
	if (sess_load(s, x->skel->skeleton))
		return 1;
	sess_pin(s, x->skel->obj, "cache", NULL);
	r->files_fd = bpf_map__fd(x->skel->maps.cache_files);
	r->targets_fd = bpf_map__fd(x->skel->maps.targets);
	if (sess_targets(s, r->targets_fd, bpf_map__fd(x->skel->maps.fast)) ||
	    sess_attach(s, x->skel->skeleton))
		return 1;
	if (x->have_probe) {
		/* every process running the target's binary (MP workers too;
		 * the program keeps the traced ones) */
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .ref_ctr_offset = x->probe_sem);

		x->res_link = bpf_program__attach_uprobe_opts(x->skel->progs.am_res_miss, -1, exe,
							      x->probe_off, &uo);
		if (!x->res_link)
			fprintf(stderr, "ampstat: warning: cannot attach amped:residency_miss: %s\n",
				strerror(errno));
	}
	fprintf(stderr, "ampstat: tracing pid %d (%s) page cache; Ctrl-C to stop\n", (int)r->pid, r->comm);
	return 0;
}

static const char *tick(struct sess *s, void *ctx)
{
	(void)s;
	scan(&((struct cache_ctx *)ctx)->r);
	return NULL;
}

static int stop(struct sess *s, void *ctx, const char *why)
{
	struct cache_ctx *x = ctx;
	struct crun *r = &x->r;
	struct tr_prog p1[SESS_PROG_MAX];
	__u64 cpu = sess_cpu_ns(s);
	double dur_s;

	bpf_link__destroy(x->res_link);
	cache_bpf__detach(x->skel);
	dur_s = (double)(mode_now_ns() - s->t0_ns) / 1e9;
	sess_progs(s, p1, SESS_PROG_MAX);
	scan(r);
	if (r->unresolved) {
		long entries = 0;
		__u64 deadline = mode_now_ns() + WALK_MAX_NS;

		for (int i = 0; i < r->nsearch && r->unresolved; i++)
			walk(r, r->search[i], 0, &entries, deadline);
	}
	r->res_probe = x->res_link != NULL;
	x->res_link = NULL;
	report(r, x->skel, s->json, x->top, dur_s, why, s->p0, p1, s->nprogs, cpu);
	return 0;
}

static void cleanup(struct sess *s, void *ctx)
{
	struct cache_ctx *x = ctx;

	(void)s;
	bpf_link__destroy(x->res_link);
	cache_bpf__destroy(x->skel);
	for (int i = 0; i < x->r.nf; i++)
		free(x->r.f[i].path);
	free(x->r.f);
}

int cmd_cache(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "top", required_argument, NULL, 'T' },
		{ "search", required_argument, NULL, 'S' },
		{ "role", required_argument, NULL, 'r' },
		{ "no-follow", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct sess_cmd cmd = {
		.name = "cache", .usage = usage, .shortopts = "T:", .longopts = longopts,
		.option = option, .flags = SESS_JSON, .interval_s = 0.25, .start = start,
		.tick = tick, .stop = stop, .cleanup = cleanup,
	};
	static struct cache_ctx x;

	memset(&x, 0, sizeof(x));
	x.top = 10;
	x.follow = true;
	return sess_run(&cmd, &x, argc, argv);
}
