/*
 * slowfs — the testbed's modelled disk: a read-only FUSE passthrough whose
 * reads wait behind a fixed number of disk "arms".
 *
 * Contract
 *   build/slowfs [options] SOURCE_DIR MOUNTPOINT
 *   Mirrors SOURCE_DIR read-only at MOUNTPOINT and stays in the foreground
 *   until unmounted (fusermount3 -u MOUNTPOINT) or sent SIGINT/SIGTERM/SIGHUP;
 *   then prints its counters to stderr.  Exit status: 0 ok, 1 runtime error
 *   (source missing, mountpoint not a directory, no /dev/fuse, mount failed),
 *   2 usage error.
 *
 * The model
 *   - Every FUSE READ request takes one arm, waits latency_us (fixed, or
 *     exponentially distributed with that mean), preads the data and only
 *     then gives the arm back.  The wait happens with the arm held, so with
 *     --depth 1 reads are strictly serialized like one disk arm; waiting
 *     requests get an arm in arrival (ticket) order.
 *   - The unit of service is one FUSE READ request, not one read(2): the
 *     kernel batches page-cache misses into requests bounded by max_pages
 *     and the readahead window (measured on this kernel: a random cold 4 KiB
 *     read(2) is one 4 KiB request; a sequential cold read is made of
 *     256 KiB requests, so 1 MiB costs four waits).
 *   - The kernel page cache stays in front (kernel_cache, long attr/entry
 *     timeouts, no auto_cache): cached pages are real hits that never reach
 *     slowfs, mincore/cachestat see them, and drop_caches or
 *     posix_fadvise(POSIX_FADV_DONTNEED) on a file make it cold again.
 *   - Only READ pays: lookup, getattr, open, readdir and readlink are
 *     served at once (the modelled disk caches its metadata).
 *
 * FUSE_USE_VERSION is 3.12 rather than 3.1 because only the 3.12 loop
 * configuration can raise libfuse's worker cap (10 threads): with fewer
 * workers than arms the cap, not --depth, would bound concurrency.
 */
#define FUSE_USE_VERSION 312

#include <fuse.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_USAGE = 2 };

/* Long enough that the kernel never revalidates during an experiment; the
 * source tree is not expected to change under a mount. */
#define SFS_CACHE_TIMEOUT_S 86400.0
/* Workers beyond --depth so that getattr/open/readdir are not stuck behind
 * reads queued at the arms. */
#define SFS_SPARE_THREADS 8

struct sfs_arms {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	unsigned depth;
	uint64_t next_ticket;  /* tickets handed out */
	uint64_t released;     /* services finished */
	uint64_t prng_state;   /* splitmix64; drawn under lock so order is FIFO order */
};

struct sfs_stats {
	/* Updated with atomics from the FUSE worker threads. */
	uint64_t reads;
	uint64_t read_bytes;
	uint64_t read_errors;
	uint64_t queue_ns;     /* time spent waiting for an arm */
	uint64_t service_ns;   /* time holding an arm (modelled wait + pread) */
	uint64_t max_outstanding;  /* most requests ever queued or in service at once */
};

struct sfs {
	int src_fd;            /* O_PATH fd of SOURCE_DIR; every path resolves under it */
	uint64_t latency_us;
	bool dist_exp;
	struct sfs_arms arms;
	struct sfs_stats stats;
};

static struct sfs g_sfs;

static uint64_t sfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t sfs_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Caller holds arms.lock. */
static uint64_t sfs_draw_wait_ns(struct sfs *s)
{
	double u, wait_us;

	if (!s->dist_exp || s->latency_us == 0)
		return s->latency_us * 1000ull;
	/* u in [0,1) with 53 random bits; -log1p(-u) is then finite (<= ~36.7). */
	u = (double)(sfs_splitmix64(&s->arms.prng_state) >> 11) * 0x1.0p-53;
	wait_us = -(double)s->latency_us * log1p(-u);
	return (uint64_t)(wait_us * 1000.0);
}

static void sfs_atomic_max(uint64_t *p, uint64_t v)
{
	uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (v > cur &&
	       !__atomic_compare_exchange_n(p, &cur, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Blocks until an arm is free (FIFO by ticket) and returns this service's
 * modelled wait in ns.  Ticket t may enter once fewer than depth services
 * are outstanding ahead of it: t < released + depth. */
static uint64_t sfs_arm_acquire(struct sfs *s)
{
	struct sfs_arms *a = &s->arms;
	uint64_t ticket, wait_ns;

	pthread_mutex_lock(&a->lock);
	ticket = a->next_ticket++;
	sfs_atomic_max(&s->stats.max_outstanding, a->next_ticket - a->released);
	while (ticket >= a->released + a->depth)
		pthread_cond_wait(&a->changed, &a->lock);
	wait_ns = sfs_draw_wait_ns(s);
	pthread_mutex_unlock(&a->lock);
	return wait_ns;
}

static void sfs_arm_release(struct sfs *s)
{
	struct sfs_arms *a = &s->arms;

	pthread_mutex_lock(&a->lock);
	a->released++;
	/* Broadcast: the one ticket now allowed in may be any of the sleepers. */
	pthread_cond_broadcast(&a->changed);
	pthread_mutex_unlock(&a->lock);
}

/* Sleeps to an absolute deadline so a signal cannot shorten or stretch it. */
static void sfs_sleep_ns(uint64_t duration_ns)
{
	struct timespec deadline;
	uint64_t ns;

	if (duration_ns == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	ns = (uint64_t)deadline.tv_nsec + duration_ns;
	deadline.tv_sec += (time_t)(ns / 1000000000ull);
	deadline.tv_nsec = (long)(ns % 1000000000ull);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == EINTR)
		;
}

/* FUSE paths start with '/'; resolve them relative to the source dir fd. */
static const char *sfs_rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

static void *sfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;
	cfg->kernel_cache = 1;  /* keep pages across opens: cached reads are hits */
	cfg->auto_cache = 0;    /* else an mtime check on open could flush the cache */
	cfg->entry_timeout = SFS_CACHE_TIMEOUT_S;
	cfg->attr_timeout = SFS_CACHE_TIMEOUT_S;
	cfg->negative_timeout = 1.0;
	cfg->direct_io = 0;
	return &g_sfs;
}

static int sfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	int rc;

	if (fi)
		rc = fstat((int)fi->fh, st);
	else
		rc = fstatat(g_sfs.src_fd, sfs_rel(path), st, AT_SYMLINK_NOFOLLOW);
	return rc < 0 ? -errno : 0;
}

static int sfs_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n;

	if (size == 0)
		return -EINVAL;
	n = readlinkat(g_sfs.src_fd, sfs_rel(path), buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';  /* FUSE wants a C string, truncated if needed */
	return 0;
}

static int sfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dirent *de;
	DIR *dir;
	int fd, err = 0;

	(void)off;
	(void)fi;
	(void)flags;
	fd = openat(g_sfs.src_fd, sfs_rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		err = -errno;
		close(fd);
		return err;
	}
	/* Offset 0 for every entry: libfuse buffers the whole listing and
	 * serves later offsets itself, so we need no seekable cookie. */
	for (;;) {
		struct stat st;

		errno = 0;
		de = readdir(dir);
		if (!de) {
			err = errno ? -errno : 0;
			break;
		}
		memset(&st, 0, sizeof st);
		st.st_ino = de->d_ino;
		st.st_mode = (mode_t)DTTOIF(de->d_type);
		if (filler(buf, de->d_name, &st, 0, 0))
			break;
	}
	closedir(dir);
	return err;
}

static int sfs_open(const char *path, struct fuse_file_info *fi)
{
	int fd;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return -EROFS;
	fd = openat(g_sfs.src_fd, sfs_rel(path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;  /* same as kernel_cache, stated per open for clarity */
	return 0;
}

static int sfs_read(const char *path, char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct sfs *s = &g_sfs;
	uint64_t t_arrive_ns, t_start_ns, t_done_ns, wait_ns;
	ssize_t n;
	int err;

	(void)path;
	t_arrive_ns = sfs_now_ns();
	wait_ns = sfs_arm_acquire(s);
	t_start_ns = sfs_now_ns();
	/* The modelled seek + rotation, with the arm held. */
	sfs_sleep_ns(wait_ns);
	n = pread((int)fi->fh, buf, size, off);
	err = errno;
	t_done_ns = sfs_now_ns();
	sfs_arm_release(s);

	__atomic_fetch_add(&s->stats.queue_ns, t_start_ns - t_arrive_ns, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->stats.service_ns, t_done_ns - t_start_ns, __ATOMIC_RELAXED);
	if (n < 0) {
		__atomic_fetch_add(&s->stats.read_errors, 1, __ATOMIC_RELAXED);
		return -err;
	}
	__atomic_fetch_add(&s->stats.reads, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->stats.read_bytes, (uint64_t)n, __ATOMIC_RELAXED);
	return (int)n;
}

static int sfs_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	close((int)fi->fh);
	return 0;
}

static int sfs_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	return fstatvfs(g_sfs.src_fd, sv) < 0 ? -errno : 0;
}

static int sfs_access(const char *path, int mask)
{
	if (mask & W_OK)
		return -EROFS;
	return faccessat(g_sfs.src_fd, sfs_rel(path), mask, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* Everything that would change the tree: explicit EROFS, not ENOSYS, so
 * callers see the same error as on any read-only mount. */
static int sfs_erofs_create(const char *p, mode_t m, struct fuse_file_info *fi) { return -EROFS; }
static int sfs_erofs_mknod(const char *p, mode_t m, dev_t d) { return -EROFS; }
static int sfs_erofs_mkdir(const char *p, mode_t m) { return -EROFS; }
static int sfs_erofs_path(const char *p) { return -EROFS; }
static int sfs_erofs_2path(const char *a, const char *b) { return -EROFS; }
static int sfs_erofs_rename(const char *a, const char *b, unsigned int f) { return -EROFS; }
static int sfs_erofs_chmod(const char *p, mode_t m, struct fuse_file_info *fi) { return -EROFS; }
static int sfs_erofs_chown(const char *p, uid_t u, gid_t g, struct fuse_file_info *fi) { return -EROFS; }
static int sfs_erofs_truncate(const char *p, off_t o, struct fuse_file_info *fi) { return -EROFS; }
static int sfs_erofs_utimens(const char *p, const struct timespec tv[2], struct fuse_file_info *fi) { return -EROFS; }
static int sfs_erofs_write(const char *p, const char *b, size_t n, off_t o, struct fuse_file_info *fi) { return -EROFS; }

static const struct fuse_operations sfs_ops = {
	.init = sfs_init,
	.getattr = sfs_getattr,
	.readlink = sfs_readlink,
	.readdir = sfs_readdir,
	.open = sfs_open,
	.read = sfs_read,
	.release = sfs_release,
	.statfs = sfs_statfs,
	.access = sfs_access,
	.create = sfs_erofs_create,
	.mknod = sfs_erofs_mknod,
	.mkdir = sfs_erofs_mkdir,
	.unlink = sfs_erofs_path,
	.rmdir = sfs_erofs_path,
	.symlink = sfs_erofs_2path,
	.link = sfs_erofs_2path,
	.rename = sfs_erofs_rename,
	.chmod = sfs_erofs_chmod,
	.chown = sfs_erofs_chown,
	.truncate = sfs_erofs_truncate,
	.utimens = sfs_erofs_utimens,
	.write = sfs_erofs_write,
};

static void sfs_usage(FILE *f)
{
	fprintf(f,
		"usage: slowfs [options] SOURCE_DIR MOUNTPOINT\n"
		"\n"
		"Read-only FUSE passthrough of SOURCE_DIR at MOUNTPOINT whose reads model a\n"
		"slow disk: each FUSE read request holds one of --depth arms while it waits\n"
		"--latency-us.  A request is one batch of page-cache misses: 4 KiB for a\n"
		"random 4 KiB read, up to 256 KiB (the readahead window) when sequential.\n"
		"Cached pages never reach slowfs.  Runs in the foreground; stop it with\n"
		"`fusermount3 -u MOUNTPOINT` or SIGTERM; counters go to stderr on exit.\n"
		"\n"
		"options:\n"
		"  --latency-us N     wait per read request in microseconds (default 8000)\n"
		"  --dist fixed|exp   fixed wait, or exponential with mean N (default fixed)\n"
		"  --depth N          number of arms serving reads at once (default 1)\n"
		"  --seed N           PRNG seed for --dist exp (default 1)\n"
		"  -o OPTS            extra FUSE mount options (comma separated)\n"
		"  -f, --foreground   stay in the foreground (always the case)\n"
		"  -h, --help         this text\n"
		"\n"
		"examples:\n"
		"  slowfs /srv/www /mnt/slow &                     # one arm, 8 ms per read\n"
		"  slowfs --latency-us 5000 --dist exp --depth 4 /srv/www /mnt/slow &\n"
		"  fusermount3 -u /mnt/slow                        # stop\n");
}

static int sfs_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static void sfs_print_stats(const struct sfs *s)
{
	const struct sfs_stats *st = &s->stats;
	double n = st->reads + st->read_errors;

	fprintf(stderr,
		"slowfs: reads=%" PRIu64 " bytes=%" PRIu64 " errors=%" PRIu64
		" avg_queue_ms=%.3f avg_service_ms=%.3f max_outstanding=%" PRIu64 "\n",
		st->reads, st->read_bytes, st->read_errors,
		n > 0 ? (double)st->queue_ns / n / 1e6 : 0.0,
		n > 0 ? (double)st->service_ns / n / 1e6 : 0.0,
		st->max_outstanding);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "latency-us", required_argument, NULL, 'L' },
		{ "dist", required_argument, NULL, 'D' },
		{ "depth", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *loop_cfg = NULL;
	struct fuse *fuse = NULL;
	struct sfs *s = &g_sfs;
	const char *src, *mnt, *extra_opts = NULL;
	char opts[1024];
	uint64_t v, depth = 1, seed = 1;
	struct stat st;
	bool mounted = false, handlers = false, arms_init = false;
	int c, err = 0;

	s->src_fd = -1;
	s->latency_us = 8000;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+fho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'L':
			/* One hour caps the product with 1000 well inside uint64. */
			if (sfs_parse_u64(optarg, 3600ull * 1000000ull, &v) < 0) {
				fprintf(stderr, "slowfs: bad --latency-us '%s'\n", optarg);
				return EXIT_USAGE;
			}
			s->latency_us = v;
			break;
		case 'D':
			if (strcmp(optarg, "fixed") == 0) {
				s->dist_exp = false;
			} else if (strcmp(optarg, "exp") == 0) {
				s->dist_exp = true;
			} else {
				fprintf(stderr, "slowfs: bad --dist '%s' (fixed|exp)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'd':
			if (sfs_parse_u64(optarg, 1024, &v) < 0 || v == 0) {
				fprintf(stderr, "slowfs: bad --depth '%s' (1..1024)\n", optarg);
				return EXIT_USAGE;
			}
			depth = v;
			break;
		case 's':
			if (sfs_parse_u64(optarg, UINT64_MAX, &v) < 0) {
				fprintf(stderr, "slowfs: bad --seed '%s'\n", optarg);
				return EXIT_USAGE;
			}
			seed = v;
			break;
		case 'o':
			extra_opts = optarg;
			break;
		case 'f':
			break;
		case 'h':
			sfs_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "slowfs: unknown or incomplete option '%s' (try --help)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "slowfs: need SOURCE_DIR and MOUNTPOINT (try --help)\n");
		return EXIT_USAGE;
	}
	src = argv[optind];
	mnt = argv[optind + 1];

	/* Runtime checks up front so the errors name the real problem instead
	 * of libfuse's generic mount failure. */
	s->src_fd = open(src, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->src_fd < 0) {
		fprintf(stderr, "slowfs: source dir '%s': %s\n", src, strerror(errno));
		err = 1;
		goto cleanup;
	}
	if (stat(mnt, &st) < 0) {
		fprintf(stderr, "slowfs: mountpoint '%s': %s\n", mnt, strerror(errno));
		err = 1;
		goto cleanup;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "slowfs: mountpoint '%s': not a directory\n", mnt);
		err = 1;
		goto cleanup;
	}
	if (access("/dev/fuse", R_OK | W_OK) < 0) {
		fprintf(stderr, "slowfs: /dev/fuse: %s (is the fuse module loaded?)\n",
			strerror(errno));
		err = 1;
		goto cleanup;
	}

	s->arms.depth = (unsigned)depth;
	s->arms.prng_state = seed;
	if (pthread_mutex_init(&s->arms.lock, NULL) || pthread_cond_init(&s->arms.changed, NULL)) {
		fprintf(stderr, "slowfs: cannot init arm lock\n");
		err = 1;
		goto cleanup;
	}
	arms_init = true;

	if ((size_t)snprintf(opts, sizeof opts, "ro,default_permissions,fsname=slowfs,subtype=slowfs%s%s",
			     extra_opts ? "," : "", extra_opts ? extra_opts : "") >= sizeof opts) {
		fprintf(stderr, "slowfs: -o options too long\n");
		err = EXIT_USAGE;
		goto cleanup;
	}
	if (fuse_opt_add_arg(&args, argv[0]) || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, opts)) {
		fprintf(stderr, "slowfs: out of memory\n");
		err = 1;
		goto cleanup;
	}
	fuse = fuse_new(&args, &sfs_ops, sizeof sfs_ops, NULL);
	if (!fuse) {
		/* libfuse already said which option it rejected. */
		fprintf(stderr, "slowfs: cannot create FUSE session (options: %s)\n", opts);
		err = extra_opts ? EXIT_USAGE : 1;
		goto cleanup;
	}
	if (fuse_mount(fuse, mnt) != 0) {
		fprintf(stderr, "slowfs: cannot mount on '%s'\n", mnt);
		err = 1;
		goto cleanup;
	}
	mounted = true;
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0) {
		fprintf(stderr, "slowfs: cannot install signal handlers\n");
		err = 1;
		goto cleanup;
	}
	handlers = true;

	loop_cfg = fuse_loop_cfg_create();
	if (!loop_cfg) {
		fprintf(stderr, "slowfs: out of memory\n");
		err = 1;
		goto cleanup;
	}
	fuse_loop_cfg_set_clone_fd(loop_cfg, 0);
	fuse_loop_cfg_set_max_threads(loop_cfg, (unsigned)depth + SFS_SPARE_THREADS);
	fuse_loop_cfg_set_idle_threads(loop_cfg, (unsigned)depth + SFS_SPARE_THREADS);

	fprintf(stderr, "slowfs: %s on %s: latency_us=%" PRIu64 " dist=%s depth=%" PRIu64
		" seed=%" PRIu64 "\n", src, mnt, s->latency_us, s->dist_exp ? "exp" : "fixed",
		depth, seed);
	if (fuse_loop_mt(fuse, loop_cfg) < 0) {
		fprintf(stderr, "slowfs: FUSE loop failed\n");
		err = 1;
	}
	sfs_print_stats(s);

cleanup:
	if (loop_cfg)
		fuse_loop_cfg_destroy(loop_cfg);
	if (handlers)
		fuse_remove_signal_handlers(fuse_get_session(fuse));
	if (mounted)
		fuse_unmount(fuse);
	if (fuse)
		fuse_destroy(fuse);
	fuse_opt_free_args(&args);
	if (arms_init) {
		pthread_cond_destroy(&s->arms.changed);
		pthread_mutex_destroy(&s->arms.lock);
	}
	if (s->src_fd >= 0)
		close(s->src_fd);
	return err;
}
