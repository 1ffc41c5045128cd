/* model mp — N pre-forked processes; each accepts one connection at a
 * time and serves it to the end with blocking I/O (Flash-MP, Apache 1.3).
 * Caches per process.  A supervising parent replaces a process that dies. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "alog.h"
#include "model.h"
#include "proc.h"
#include "supervise.h"
#include "worker.h"

static int mp_child(int idx, int lfd)
{
	worker_start(idx, false);
	while (!amped_stop_requested) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		/* Blocking accept on a shared socket wakes one process. */
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0) {
			clock_refresh();
			alog_tick();
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				usleep(100000);
			continue;	/* EINTR (stop?), ECONNABORTED */
		}
		worker_serve(fd, &ss);
		alog_tick();
	}
	close(lfd);
	worker_end();
	return 0;
}

static int mp_run(int lfd)
{
	/* Workers block in accept(): the socket (one open file, shared by
	 * every process) must be blocking. */
	int fl = fcntl(lfd, F_GETFL);
	/* an idle worker wakes from accept() twice a second to flush its
	 * access log lines (SO_RCVTIMEO applies to accept) */
	struct timeval tv = { 0, 500000 };
	if (fl < 0 || fcntl(lfd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
	    (cfg.access_log && setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)) {
		perror("amped: listener");
		close(lfd);
		return 1;
	}
	return supervise(cfg.workers, mp_child, lfd, -1, true);
}

static void mp_describe(char *buf, size_t size)
{
	snprintf(buf, size, "model mp, %d workers", cfg.workers);
}

const struct model model_mp = {
	.name = "mp",
	.help = "N processes, one connection each, blocking I/O",
	.event_driven = false,
	.describe = mp_describe,
	.run = mp_run,
};
