/* test_ult — ult.c, user-level threads, without a server: two threads
 * ping-pong through park/wake (each round trip 4 switches), threads park
 * on a pipe and are woken by the poller, time out, are interrupted; stacks
 * come back to the pool and have a guard page.  Both switches (assembly
 * and swapcontext) run, and the cost of a switch is printed as a
 * diagnostic (never asserted: timing on a shared machine is noise). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "ae.h"
#include "proc.h"
#include "tap.h"
#include "ult.h"

#define ROUNDS 200000

static struct ult *ping_u, *pong_u;
static long pings, pongs;

static void ping(void *arg)
{
	(void)arg;
	ping_u = ult_self();
	for (int i = 0; i < ROUNDS; i++) {
		pings++;
		ult_wake(pong_u);
		ult_park();
	}
	ult_wake(pong_u);
}

static void pong(void *arg)
{
	(void)arg;
	pong_u = ult_self();
	ult_park();
	while (pongs < ROUNDS) {
		pongs++;
		ult_wake(ping_u);
		ult_park();
	}
}

static int pipefd[2], got_ready = -9, got_timeout = -9, got_intr = -9, intr_errno;

static void reader(void *arg)
{
	(void)arg;
	got_ready = ult_wait_fd(pipefd[0], POLLIN, 5000);
}

static void sleeper(void *arg)
{
	(void)arg;
	got_timeout = ult_wait_fd(-1, 0, 150);
}

static void interrupted(void *arg)
{
	(void)arg;
	got_intr = ult_wait_fd(-1, 0, 60000);
	intr_errno = errno;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void run_until_idle(struct ae_loop *l, int max_turns)
{
	for (int i = 0; i < max_turns && ult_live() > 0; i++) {
		ult_run();
		ult_expire(now_ms);
		if (ult_live() > 0)
			ae_poll(l, ult_runnable() ? 0 : 10);
	}
}

static void one_switch_kind(bool uc)
{
	const char *k = uc ? "ucontext" : "asm";
	struct ae_loop *l = ae_create(256);
	unsigned long long s0, s1;

	ok(l && ult_init(64 * 1024, uc, l, 256) == 0, "%s: ult_init", k);
	ae_on_wake(l, clock_refresh);
	got_ready = got_timeout = got_intr = -9;
	ok(amped_ult.switch_asm == !uc, "%s: amped_ult.switch_asm says which switch", k);
	pings = pongs = 0;
	s0 = amped_ult.switches;
	ult_spawn(pong, NULL);
	ult_spawn(ping, NULL);
	uint64_t t0 = now_ns();
	ult_run();
	uint64_t t1 = now_ns();
	s1 = amped_ult.switches;
	ok(pings == ROUNDS && pongs == ROUNDS, "%s: %d ping-pong rounds (%ld, %ld)", k, ROUNDS, pings, pongs);
	ok(ult_live() == 0, "%s: both threads ended", k);
	ok(s1 - s0 >= 4ull * ROUNDS, "%s: switches counted (%llu)", k, s1 - s0);
	diag("%s: %.1f ns per switch (%llu switches in %.1f ms; shared machine)", k,
	     (double)(t1 - t0) / (double)(s1 - s0), s1 - s0, (double)(t1 - t0) / 1e6);

	/* park on a pipe; the poller wakes it */
	ok(pipe(pipefd) == 0, "%s: pipe", k);
	ult_spawn(reader, NULL);
	ult_run();
	ok(got_ready == -9 && ult_live() == 1, "%s: reader parked on an empty pipe", k);
	ok(write(pipefd[1], "x", 1) == 1, "%s: write", k);
	run_until_idle(l, 100);
	ok(got_ready == 1, "%s: the poller woke it: wait_fd returned 1 (%d)", k, got_ready);
	close(pipefd[0]);
	close(pipefd[1]);

	/* timeout and stop */
	clock_refresh();
	uint64_t start = now_ms;
	got_timeout = -9;
	ult_spawn(sleeper, NULL);
	run_until_idle(l, 1000);
	ok(got_timeout == 0 && now_ms - start >= 150, "%s: a 150 ms wait times out (%d after %llu ms)", k,
	   got_timeout, (unsigned long long)(now_ms - start));
	ult_spawn(interrupted, NULL);
	ult_run();
	ult_interrupt_all();
	ult_run();
	ok(got_intr == -1 && intr_errno == EINTR, "%s: ult_interrupt_all: -1/EINTR", k);
	ok(amped_ult.stacks_mapped <= 4, "%s: stacks reused from the pool (%llu mapped for %llu threads)", k,
	   amped_ult.stacks_mapped, amped_ult.created);
	ult_fini();
	ae_destroy(l);
}

/* the guard: the page below a stack is PROT_NONE (/proc/self/maps) */
static void guard_page(void)
{
	struct ae_loop *l = ae_create(16);
	char line[512];
	int guards_before = 0, guards_after = 0;
	FILE *f;

	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f))
		guards_before += strstr(line, " ---p ") != NULL;
	if (f)
		fclose(f);
	ult_init(64 * 1024, false, l, 16);
	for (int i = 0; i < 3; i++)
		ult_spawn(sleeper, NULL);
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f))
		guards_after += strstr(line, " ---p ") != NULL;
	if (f)
		fclose(f);
	ok(guards_after >= guards_before + 3, "3 new stacks, 3 new PROT_NONE guard pages (%d -> %d)",
	   guards_before, guards_after);
	ult_interrupt_all();
	run_until_idle(l, 100);
	ult_fini();
	ae_destroy(l);
}

int main(void)
{
	clock_refresh();
	one_switch_kind(false);
	one_switch_kind(true);
	guard_page();
	return done_testing();
}
