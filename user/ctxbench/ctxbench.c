/* ctxbench — what a context switch costs on this machine (lmbench lat_ctx
 * style), for the lab's ctx-switch experiment.
 *
 * Two tasks pass a token back and forth through two pipes, N round trips;
 * each round trip is two switches plus two pipe writes and two reads.  The
 * same writes and reads done by one task with no one to switch to (it
 * writes and reads its own pipe) are the baseline, subtracted, so what is
 * left is the switch itself.  Both are measured in BATCHES alternating
 * batches and the median batch of each is kept: on a shared machine one
 * batch can be preempted, and a mean would carry that.  Tasks are threads (one address space) or
 * processes (fork: an address-space switch too), pinned to one CPU (a
 * real switch) or to two (a cross-CPU wake-up: what a hand-off to a helper
 * on another CPU costs).
 *
 * Usage: ctxbench --kind thread|process --cpus same|cross [--round-trips N]
 *                 [--batches B]
 * Prints one JSON object: round_trip_ns, baseline_ns (per write+read
 * pair), switch_ns = (round_trip - 2 * baseline) / 2.
 * Exit status: 0 ok, 1 runtime error, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct cb_pair {
	int ab[2];	/* a writes, b reads */
	int ba[2];	/* b writes, a reads */
	long n;
	int cpu;
};

static uint64_t cb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Returns 0, or -1 when the CPU cannot be used (errno set). */
static int cb_pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* The echoing side: read a token, write it back, until the token 'q'.
 * Returns 0 or -1. */
static int cb_echo(struct cb_pair *p)
{
	char c;
	for (;;) {
		if (read(p->ab[0], &c, 1) != 1)
			return -1;
		if (c == 'q')
			return 0;
		if (write(p->ba[1], &c, 1) != 1)
			return -1;
	}
}

static void *cb_echo_thread(void *arg)
{
	struct cb_pair *p = arg;
	if (cb_pin(p->cpu) < 0 || cb_echo(p) < 0)
		return (void *)1;
	return NULL;
}

/* Returns the mean round trip in ns, or -1 on a failed read/write. */
static double cb_ping(struct cb_pair *p)
{
	char c = 'x';
	uint64_t t0 = cb_now_ns();
	for (long i = 0; i < p->n; i++) {
		if (write(p->ab[1], &c, 1) != 1 || read(p->ba[0], &c, 1) != 1)
			return -1;
	}
	return (double)(cb_now_ns() - t0) / (double)p->n;
}

/* One task, its own pipe fd[2]: a write and a read with no switch.
 * Returns the mean pair in ns, or -1. */
static double cb_baseline(const int fd[2], long n)
{
	char c = 'x';
	uint64_t t0 = cb_now_ns();
	for (long i = 0; i < n; i++) {
		if (write(fd[1], &c, 1) != 1 || read(fd[0], &c, 1) != 1)
			return -1;
	}
	return (double)(cb_now_ns() - t0) / (double)n;
}

static int cb_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double cb_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cb_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Returns the number in s if it is an integer in [lo, hi], else -1. */
static long cb_parse(const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);
	return *s && !*end && v >= lo && v <= hi ? v : -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: ctxbench --kind thread|process --cpus same|cross [--round-trips N] [--batches B]\n"
			"Prints {\"kind\", \"cpus\", \"round_trips\", \"round_trip_ns\", \"baseline_ns\", \"switch_ns\"}.\n"
			"Exit status: 0 ok, 1 runtime error, 2 usage error.\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kind", required_argument, 0, 'k' },
		{ "cpus", required_argument, 0, 'c' },
		{ "round-trips", required_argument, 0, 'n' },
		{ "batches", required_argument, 0, 'b' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *kind = NULL, *cpus = NULL;
	long n = 100000, batches = 11;
	int o, err = 1, self[2] = { -1, -1 };
	double rts[64], bases[64];
	struct cb_pair p = { .ab = { -1, -1 }, .ba = { -1, -1 } };
	pid_t child = -1;
	pthread_t th;
	int have_thread = 0;
	double rt = -1, base;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'k': kind = optarg; break;
		case 'c': cpus = optarg; break;
		case 'n':
			if ((n = cb_parse(optarg, 1, 100000000)) < 0)
				usage();
			break;
		case 'b':
			if ((batches = cb_parse(optarg, 1, 64)) < 0)
				usage();
			break;
		default: usage();
		}
	}
	if (optind != argc || !kind || !cpus || (strcmp(kind, "thread") && strcmp(kind, "process")) ||
	    (strcmp(cpus, "same") && strcmp(cpus, "cross")))
		usage();

	p.n = n / batches > 0 ? n / batches : 1;
	p.cpu = strcmp(cpus, "same") == 0 ? 0 : 1;
	if (p.cpu >= sysconf(_SC_NPROCESSORS_ONLN)) {
		fprintf(stderr, "ctxbench: --cpus cross needs two CPUs\n");
		goto cleanup;
	}
	if (pipe(p.ab) < 0 || pipe(p.ba) < 0 || pipe(self) < 0) {
		perror("ctxbench: pipe");
		goto cleanup;
	}
	if (cb_pin(0) < 0) {
		perror("ctxbench: sched_setaffinity");
		goto cleanup;
	}
	if (strcmp(kind, "thread") == 0) {
		if (pthread_create(&th, NULL, cb_echo_thread, &p) != 0) {
			fprintf(stderr, "ctxbench: pthread_create failed\n");
			goto cleanup;
		}
		have_thread = 1;
	} else {
		child = fork();
		if (child < 0) {
			perror("ctxbench: fork");
			goto cleanup;
		}
		if (child == 0)
			_exit(cb_pin(p.cpu) < 0 || cb_echo(&p) < 0 ? 1 : 0);
	}
	for (int b = 0; b < batches; b++) {
		bases[b] = cb_baseline(self, p.n);
		rts[b] = cb_ping(&p);
		if (rts[b] < 0 || bases[b] < 0) {
			fprintf(stderr, "ctxbench: the token was lost (%s)\n", strerror(errno));
			goto cleanup;
		}
	}
	rt = cb_median(rts, (int)batches);
	base = cb_median(bases, (int)batches);
	printf("{\"kind\": \"%s\", \"cpus\": \"%s\", \"round_trips\": %ld, \"round_trip_ns\": %.1f, "
	       "\"baseline_ns\": %.1f, \"switch_ns\": %.1f}\n",
	       kind, cpus, p.n * batches, rt, base, (rt - 2 * base) / 2);
	err = 0;
cleanup:
	if (p.ab[1] >= 0 && (have_thread || child > 0)) {
		char q = 'q';
		if (write(p.ab[1], &q, 1) != 1)
			err = 1;
	}
	if (have_thread) {
		void *r = NULL;
		pthread_join(th, &r);
		if (r)
			err = 1;
	}
	if (child > 0) {
		int st;
		waitpid(child, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			err = 1;
	}
	for (int i = 0; i < 2; i++) {
		if (self[i] >= 0)
			close(self[i]);
		if (p.ab[i] >= 0)
			close(p.ab[i]);
		if (p.ba[i] >= 0)
			close(p.ba[i]);
	}
	return err;
}
