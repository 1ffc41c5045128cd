/* worker — a blocking worker's life (MP process, MT thread).
 *
 * Sockets stay non-blocking and every wait is a poll() bounded by the
 * connection's deadline (as APR does for Apache's timeouts): SO_SNDTIMEO
 * would bound each piece that sendfile() splices, not the call, and a
 * stalled client would hold a worker for several timeouts.  Disk reads
 * inside sendfile() still block, which is the point of these models. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ae.h"
#include "alog.h"
#include "blk.h"
#include "conn.h"
#include "fcache.h"
#include "proc.h"
#include "worker.h"

void worker_start(int idx, bool own_current)
{
	static __thread struct amped_current mine;
	char name[16];

	snprintf(name, sizeof(name), AMPED_COMM_WORK "%d", idx);
	prctl(PR_SET_NAME, name);
	conn_blocking_init(idx + 1, own_current ? &mine : &amped_current[0], &blk_inline);
	loop = ae_create(1);		/* nothing is registered; the conn code wants one */
	clock_refresh();
	fc_init();
}

void worker_end(void)
{
	conn_close_all();		/* none is open: this frees the thread's pools */
	fc_flush_all();
	ae_destroy(loop);
	loop = NULL;
}

void worker_serve(int fd, const struct sockaddr_storage *ss)
{
	struct conn *c;
	bool linger = false;
	int ms;

	clock_refresh();
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		close(fd);
		return;
	}
	c = conn_adopt(fd, ss);
	if (!c)
		return;
	for (;;) {
		enum conn_next next = conn_next(c, amped_stop_requested, &ms);
		if (next == CONN_GONE)
			break;
		if (next == CONN_LINGER) {
			linger = true;
			break;
		}
		if (next == CONN_WAIT) {
			wait_fd(-1, 0, ms);	/* its answer is written for it */
			continue;
		}
		alog_tick();
		if (ms > 500 && cfg.access_log)
			ms = 500;	/* wake to flush the log within a second */
		wait_fd(fd, POLLIN, ms);
		conn_input(c);
	}
	if (linger) {
		/* read and drop what the client still sends, briefly */
		char buf[4096];
		uint64_t until = now_ms + (uint64_t)ms;
		while (now_ms < until && wait_fd(fd, POLLIN, (int)(until - now_ms)) > 0 &&
		       read(fd, buf, sizeof(buf)) > 0)
			;
		conn_close(c);
	}
	conn_release(c);
}
