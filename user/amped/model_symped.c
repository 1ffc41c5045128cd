/* model symped — N independent SPED processes on one port (Zeus), each a
 * complete dispatcher with its own caches: a listening socket each with
 * SO_REUSEPORT (the kernel spreads connections; the default), or one socket
 * inherited by all (--symped-listen shared: they race in epoll for each
 * connection).  A supervising parent replaces a process that dies. */
#include <stdio.h>
#include <unistd.h>
#include "blk.h"
#include "dispatcher.h"
#include "model.h"
#include "proc.h"
#include "supervise.h"

static int symped_default_workers(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	return (int)(ncpu > 0 ? ncpu : 2);
}

static int symped_configure(void)
{
	cfg.listen_reuseport = cfg.symped_listen == SYMPED_REUSEPORT;
	return 0;
}

static void symped_describe(char *buf, size_t size)
{
	snprintf(buf, size, "model symped, %d workers, sched %s", cfg.workers, sched_name());
}

static int symped_child(int idx, int lfd)
{
	if (lfd < 0) {
		/* reuseport: a socket of our own on the same port */
		char url[128];
		lfd = make_listener(url, sizeof(url));
		if (lfd < 0)
			return 1;
	}
	(void)idx;
	return run_dispatcher(lfd, &blk_inline);
}

static int symped_run(int lfd)
{
	if (cfg.symped_listen == SYMPED_SHARED)
		return supervise(cfg.workers, symped_child, lfd, -1, true);
	/* reuseport: child 0 inherits the socket that fixed the port; the
	 * others, and any replacement, open their own */
	return supervise(cfg.workers, symped_child, -1, lfd, false);
}

const struct model model_symped = {
	.name = "symped",
	.help = "N independent SPED processes on one port",
	.event_driven = true,
	.polls = true,
	.default_workers = symped_default_workers,
	.configure = symped_configure,
	.describe = symped_describe,
	.run = symped_run,
};
