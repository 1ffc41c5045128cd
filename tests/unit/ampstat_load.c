/* ampstat_load — a process whose threads do a known pattern, for the
 * ampstat tests (tests/60-ampstat-*.t).
 *
 * usage: ampstat_load [-r ROUNDS] [-s SPIN_MS]
 * Starts its threads, prints "ready PID" and waits for a line on stdin;
 * then every thread runs its pattern once, and when all are done it prints
 * "done" and waits again; EOF on stdin ends the process.  Outside the
 * pattern every thread sleeps in read(2) on a pipe, so its counters in
 * /proc do not move: a tracer attached before "go" and detached after
 * "done" must see exactly what /proc shows changed.
 *
 * Threads (names set with PR_SET_NAME):
 *   as-spin-a, as-spin-b  both pinned to CPU 0, spin in user mode for
 *                         SPIN_MS of wall time: involuntary switches and
 *                         run-queue time
 *   as-sys                read(2) of /dev/zero for SPIN_MS: kernel time
 *   as-sleep              ROUNDS x nanosleep(2 ms): voluntary, waiting-other
 *   as-epoll              ROUNDS x epoll_wait(5 ms) on nothing: waiting-idle
 *   as-vfork              ROUNDS x vfork + child sleeps 20 ms: the parent
 *                         is in D state (blocked-io) at least that long
 * Exit status: 0, or 1 when a setup call failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int rounds = 20, spin_ms = 300;
static int done_pipe[2];

struct thr {
	const char *name;
	void (*fn)(void);
	int gate[2];
	pthread_t t;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void pin_cpu0(void)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(0, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

static void do_spin(void)
{
	volatile unsigned long x = 0;
	double end = now_ms() + spin_ms;

	while (now_ms() < end)
		for (int i = 0; i < 1000; i++)
			x++;
}

static void do_sys(void)
{
	static __thread char buf[65536];
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	double end = now_ms() + spin_ms;

	if (fd < 0)
		return;
	while (now_ms() < end)
		if (read(fd, buf, sizeof(buf)) < 0)
			break;
	close(fd);
}

static void do_sleep(void)
{
	for (int i = 0; i < rounds; i++) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
}

static void do_epoll(void)
{
	struct epoll_event ev;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	for (int i = 0; ep >= 0 && i < rounds; i++)
		epoll_wait(ep, &ev, 1, 5);
	if (ep >= 0)
		close(ep);
}

/* its own frame: nothing of the caller's lives across vfork */
static __attribute__((noinline)) void one_vfork(void)
{
	pid_t p = vfork();

	if (p == 0) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		syscall(SYS_nanosleep, &ts, NULL);
		_exit(0);
	}
	if (p > 0)
		waitpid(p, NULL, 0);
}

static void do_vfork(void)
{
	for (int i = 0; i < rounds; i++)
		one_vfork();
}

static void *run(void *arg)
{
	struct thr *t = arg;
	char c;

	prctl(PR_SET_NAME, t->name);
	if (!strncmp(t->name, "as-spin", 7))
		pin_cpu0();
	for (;;) {
		if (read(t->gate[0], &c, 1) != 1)
			return NULL;
		t->fn();
		if (write(done_pipe[1], "x", 1) != 1)
			return NULL;
	}
}

int main(int argc, char **argv)
{
	struct thr th[] = {
		{ "as-spin-a", do_spin, {0, 0}, 0 }, { "as-spin-b", do_spin, {0, 0}, 0 },
		{ "as-sys", do_sys, {0, 0}, 0 }, { "as-sleep", do_sleep, {0, 0}, 0 },
		{ "as-epoll", do_epoll, {0, 0}, 0 }, { "as-vfork", do_vfork, {0, 0}, 0 },
	};
	int n = (int)(sizeof(th) / sizeof(th[0])), opt;
	char line[64];

	while ((opt = getopt(argc, argv, "r:s:")) != -1) {
		if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 's')
			spin_ms = atoi(optarg);
		else {
			fprintf(stderr, "usage: ampstat_load [-r ROUNDS] [-s SPIN_MS]\n");
			return 2;
		}
	}
	if (pipe(done_pipe))
		return 1;
	for (int i = 0; i < n; i++)
		if (pipe(th[i].gate) || pthread_create(&th[i].t, NULL, run, &th[i]))
			return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	while (fgets(line, sizeof(line), stdin)) {
		char c;
		for (int i = 0; i < n; i++)
			if (write(th[i].gate[1], "g", 1) != 1)
				return 1;
		for (int i = 0; i < n; i++)
			if (read(done_pipe[0], &c, 1) != 1)
				return 1;
		printf("done\n");
	}
	return 0;
}
