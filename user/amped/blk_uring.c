/* blk_uring — blocking work as io_uring operations (model uring).
 *
 * The dispatcher keeps one ring.  A job becomes a short chain of
 * operations, each issued when the one before it has completed:
 *   OPEN  OPENAT2(O_PATH, RESOLVE_BENEATH) -> STATX(that fd) ->
 *         OPENAT2(O_RDONLY) -> STATX(that fd): the checks job_run_open()
 *         makes (only regular files and directories are ever opened for
 *         reading, and the file opened is the one looked at), and for a
 *         directory named with a slash the same again for its index.html.
 *   READ  READ into a scratch buffer nobody looks at: the point is the page
 *         cache, which the dispatcher then sendfiles from, as with helpers.
 * The kernel finishes what cannot block right at submission (cached
 * dentries, resident pages) and gives the rest to its io-wq workers (the
 * iou-wrk-N threads) or to async buffered reads.  Each completion is
 * announced on an eventfd registered with the ring, which the loop watches
 * like any socket; a job's chain carries on from that callback, so the rest
 * of the server sees jobs complete as they do with helpers (blk_complete()
 * from the loop, never from inside submit).
 *
 * --helpers N bounds the io-wq workers (io_uring_register_iowq_max_workers),
 * so that uring blocks in at most as many threads as AMPED has helpers
 * (per dispatcher, as AMPED's helpers are).
 *
 * SQEs are prepared during a loop turn and submitted together once before
 * the loop sleeps (flush), or earlier if the submission queue fills up.
 * At most UR_INFLIGHT jobs are out; more wait in a FIFO. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/sdt.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "ae.h"
#include "blk.h"
#include "fcache.h"
#include "proc.h"

#define UR_SQ_ENTRIES 256
#define UR_CQ_ENTRIES 1024
#define UR_INFLIGHT UR_CQ_ENTRIES	/* one op in flight per job: the CQ never overflows */
/* A READ job (up to 512 KiB) goes in pieces of this size, one after the
 * other, as job_run_read() does: the kernel's readahead still sees a
 * sequential reader, and at stop a piece already under way (which cannot
 * be cancelled, and which the process's exit waits for) is short. */
#define UR_READ_BYTES (128 * 1024)

enum ur_stage { ST_PATH, ST_PSTAT, ST_OPEN, ST_FSTAT, ST_READ };

/* One job in flight.  Everything the kernel reads (path, open_how) or writes
 * (statx) lives here until the operation's completion has been seen. */
struct uop {
	struct job *job;		/* NULL: abandoned at stop */
	enum ur_stage stage;
	bool trailing;			/* the request named a directory */
	bool index;			/* looking at <dir>/index.html */
	int pfd, fd;			/* the O_PATH fd, the real one; -1 none */
	uint64_t off, left;		/* READ */
	struct stat st0;		/* what the O_PATH look saw */
	struct statx stx;
	struct open_how how;
	struct uop *prev, *next;	/* in flight */
	char rel[AMPED_PATH_MAX + 16];
};

/* One ring per dispatcher thread (--dispatchers): thread-local, touched
 * only by the thread that owns the loop. */
static __thread struct io_uring ring;
static __thread bool ring_up;
static __thread int ur_efd = -1;
static __thread char *scratch;		/* READ's sink, the ring's own: never read */
static __thread struct uop *flight;	/* jobs in flight */
static __thread int nflight;
static __thread struct job *q_head, *q_tail;	/* waiting for room */
static __thread int nqueued;
static __thread struct job *failed;	/* could not start: answered from the loop */

static void uop_step(struct uop *u, int res);

/* An SQE, flushing the queue if it is full; NULL if the kernel takes none. */
static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	return sqe;
}

static void statx_to_stat(const struct statx *x, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
	st->st_ino = x->stx_ino;
	st->st_mode = x->stx_mode;
	st->st_nlink = x->stx_nlink;
	st->st_uid = x->stx_uid;
	st->st_gid = x->stx_gid;
	st->st_size = (off_t)x->stx_size;
	st->st_blksize = x->stx_blksize;
	st->st_blocks = (blkcnt_t)x->stx_blocks;
	st->st_atim.tv_sec = x->stx_atime.tv_sec;
	st->st_atim.tv_nsec = x->stx_atime.tv_nsec;
	st->st_mtim.tv_sec = x->stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = x->stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = x->stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = x->stx_ctime.tv_nsec;
}

/* Queue the operation of u's current stage.  0 ok, -1 no SQE. */
static int uop_issue(struct uop *u)
{
	struct io_uring_sqe *sqe = get_sqe();

	if (!sqe)
		return -1;
	switch (u->stage) {
	case ST_PATH:
	case ST_OPEN:
		/* RESOLVE_BENEATH refuses "..", absolute symlinks and symlinks
		 * leaving the root (EXDEV); O_PATH opens nothing, so a device
		 * or FIFO is looked at, never opened (see work.c) */
		memset(&u->how, 0, sizeof(u->how));
		u->how.flags = u->stage == ST_PATH ? O_PATH | O_CLOEXEC :
			       O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
		u->how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
		io_uring_prep_openat2(sqe, root_fd, u->rel, &u->how);
		break;
	case ST_PSTAT:
	case ST_FSTAT:
		io_uring_prep_statx(sqe, u->stage == ST_PSTAT ? u->pfd : u->fd, "",
				    AT_EMPTY_PATH, STATX_BASIC_STATS, &u->stx);
		break;
	case ST_READ: {
		unsigned len = u->left < UR_READ_BYTES ? (unsigned)u->left : UR_READ_BYTES;
		io_uring_prep_read(sqe, u->job->fe->fd, scratch, len, u->off);
		break;
	}
	}
	io_uring_sqe_set_data(sqe, u);
	return 0;
}

static void uop_free(struct uop *u)
{
	if (u->pfd >= 0)
		close(u->pfd);
	if (u->fd >= 0)
		close(u->fd);
	if (u->prev)
		u->prev->next = u->next;
	else
		flight = u->next;
	if (u->next)
		u->next->prev = u->prev;
	nflight--;
	free(u);
}

static void start_queued(void);

/* The job is done: results into it, the uop away, then the connection. */
static void uop_done(struct uop *u, int err, int kind)
{
	struct job *j = u->job;

	j->kind = kind;
	if (err == 0 && kind == OPEN_FILE) {
		j->fd = u->fd;		/* the entry owns it now */
		u->fd = -1;
		j->st = u->st0;
	}
	uop_free(u);
	start_queued();
	blk_complete(j, err);
}

/* An open in the path's stages failed with err. */
static void open_failed(struct uop *u, int err)
{
	/* <dir>/index.html missing: a directory without an index */
	if (u->index && err == ENOENT)
		uop_done(u, 0, OPEN_NOINDEX);
	else
		uop_done(u, err, 0);
}

static void uop_next(struct uop *u, enum ur_stage st)
{
	u->stage = st;
	if (uop_issue(u) < 0)
		uop_done(u, EAGAIN, 0);	/* -> 503 (or a blocking send) */
}

/* The operation of u's stage finished with res (>= 0, or -errno). */
static void uop_step(struct uop *u, int res)
{
	struct stat st;

	if (!u->job) {
		/* abandoned at stop: only close what the kernel opened */
		if ((u->stage == ST_PATH || u->stage == ST_OPEN) && res >= 0)
			close(res);
		uop_free(u);
		return;
	}
	if (res == -EINTR || (res == -EAGAIN && u->stage == ST_READ)) {
		uop_next(u, u->stage);	/* again */
		return;
	}
	switch (u->stage) {
	case ST_PATH:
		if (res < 0) {
			open_failed(u, -res);
			return;
		}
		u->pfd = res;
		uop_next(u, ST_PSTAT);
		return;
	case ST_PSTAT:
		close(u->pfd);
		u->pfd = -1;
		if (res < 0) {
			open_failed(u, -res);
			return;
		}
		statx_to_stat(&u->stx, &u->st0);
		if (!S_ISREG(u->st0.st_mode) && !S_ISDIR(u->st0.st_mode)) {
			uop_done(u, EACCES, 0);	/* devices, FIFOs, sockets: never */
			return;
		}
		uop_next(u, ST_OPEN);
		return;
	case ST_OPEN:
		if (res < 0) {
			open_failed(u, -res);
			return;
		}
		u->fd = res;
		uop_next(u, ST_FSTAT);
		return;
	case ST_FSTAT:
		if (res < 0) {
			uop_done(u, -res, 0);
			return;
		}
		statx_to_stat(&u->stx, &st);
		if (st.st_dev != u->st0.st_dev || st.st_ino != u->st0.st_ino) {
			uop_done(u, EAGAIN, 0);	/* replaced under us: retry later */
			return;
		}
		u->st0 = st;
		if (S_ISDIR(st.st_mode)) {
			close(u->fd);
			u->fd = -1;
			if (u->index) {
				uop_done(u, 0, OPEN_NOINDEX);
			} else if (!u->trailing) {
				uop_done(u, 0, OPEN_REDIRECT);
			} else {
				u->index = true;
				strcat(u->rel, "/index.html");
				uop_next(u, ST_PATH);
			}
			return;
		}
		if (!S_ISREG(st.st_mode)) {
			uop_done(u, EACCES, 0);
			return;
		}
		uop_done(u, 0, OPEN_FILE);
		return;
	case ST_READ:
		if (res < 0) {
			uop_done(u, -res, 0);
			return;
		}
		u->off += (uint64_t)res;
		u->left -= (uint64_t)res < u->left ? (uint64_t)res : u->left;
		if (res == 0 || u->left == 0)
			uop_done(u, 0, 0);	/* EOF: the file shrank; sendfile sees it */
		else
			uop_next(u, ST_READ);
		return;
	}
}

/* j could not even start: its answer (err) comes from the loop like any
 * other completion, never from inside submit. */
static void fail_later(struct job *j, int err)
{
	uint64_t one = 1;

	j->err = err;
	j->next = failed;
	failed = j;
	if (write(ur_efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow at our rates */
	}
}

/* Put j in flight: its first operation is queued. */
static void start_job(struct job *j)
{
	struct uop *u = calloc(1, sizeof(*u));
	int trailing = 0;

	if (!u) {
		fail_later(j, ENOMEM);
		return;
	}
	if (j->op == AMPED_OP_OPEN &&
	    job_rel_path(j->fe->key, u->rel, sizeof(u->rel), &trailing) < 0) {
		free(u);
		fail_later(j, ENAMETOOLONG);
		return;
	}
	u->job = j;
	u->pfd = u->fd = -1;
	u->trailing = trailing;
	u->off = j->off;
	u->left = j->len;
	u->stage = j->op == AMPED_OP_READ ? ST_READ : ST_PATH;
	if (uop_issue(u) < 0) {
		free(u);
		fail_later(j, EAGAIN);	/* -> 503, or a blocking send */
		return;
	}
	u->next = flight;
	if (flight)
		flight->prev = u;
	flight = u;
	nflight++;
	j->sent_ns = mono_ns();
}

static void start_queued(void)
{
	while (q_head && nflight < UR_INFLIGHT) {
		struct job *j = q_head;
		q_head = j->next;
		if (!q_head)
			q_tail = NULL;
		j->next = NULL;
		nqueued--;
		start_job(j);
	}
}

static void ur_submit(struct job *j)
{
	DTRACE_PROBE4(amped, helper_handoff, j->req_id, -1, j->op, nflight >= UR_INFLIGHT);
	if (nflight < UR_INFLIGHT) {
		start_job(j);
		return;
	}
	if (q_tail)
		q_tail->next = j;
	else
		q_head = j;
	q_tail = j;
	nqueued++;
}

/* Completions: run each job's chain on.  Operations queued here that the
 * kernel finishes at submission are handled in the next round rather than
 * after another trip through epoll. */
static void ur_readable(struct ae_loop *l, int fd, void *data, int mask)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	while (failed) {
		struct job *j = failed;
		failed = j->next;
		j->next = NULL;
		blk_complete(j, j->err);
	}
	for (int round = 0; round < 4; round++) {
		struct io_uring_cqe *cqe;
		int seen = 0;

		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			struct uop *u = io_uring_cqe_get_data(cqe);
			int res = cqe->res;
			io_uring_cqe_seen(&ring, cqe);
			seen++;
			if (u)
				uop_step(u, res);
		}
		if (!seen || !io_uring_sq_ready(&ring))
			break;
		io_uring_submit(&ring);
	}
}

static void ur_flush(void)
{
	if (ring_up && io_uring_sq_ready(&ring))
		io_uring_submit(&ring);	/* what the kernel refuses stays queued */
}

static int ur_busy(void)
{
	return nflight + nqueued;
}

static int ur_start(void)
{
	struct io_uring_params p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = UR_CQ_ENTRIES;
	rc = io_uring_queue_init_params(UR_SQ_ENTRIES, &ring, &p);
	if (rc < 0) {
		fprintf(stderr, "amped: io_uring_setup: %s\n", strerror(-rc));
		return -1;
	}
	ring_up = true;
	scratch = malloc(UR_READ_BYTES);
	ur_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!scratch || ur_efd < 0) {
		perror("amped: io_uring eventfd");
		return -1;
	}
	/* [0] bounded workers: regular-file reads, opens and stats are
	 * bounded work; [1] unbounded: left as it is (0) */
	unsigned int workers[2] = { (unsigned)cfg.helpers, 0 };
	rc = io_uring_register_iowq_max_workers(&ring, workers);
	if (rc < 0) {
		fprintf(stderr, "amped: io_uring_register_iowq_max_workers: %s\n", strerror(-rc));
		return -1;
	}
	rc = io_uring_register_eventfd(&ring, ur_efd);
	if (rc < 0) {
		fprintf(stderr, "amped: io_uring_register_eventfd: %s\n", strerror(-rc));
		return -1;
	}
	if (ae_set(loop, ur_efd, AE_READABLE, ur_readable, NULL) < 0) {
		perror("amped: watching the io_uring eventfd");
		return -1;
	}
	return 0;
}

static void ur_stop(uint64_t deadline_ns)
{
	/* queued jobs belong to connections that are gone */
	q_head = q_tail = NULL;
	failed = NULL;
	nqueued = 0;
	if (ring_up) {
		for (struct uop *u = flight; u; u = u->next)
			u->job = NULL;
		if (nflight > 0) {
			struct io_uring_sqe *sqe = get_sqe();
			if (sqe) {
				io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY);
				io_uring_sqe_set_data(sqe, NULL);
			}
		}
		io_uring_submit(&ring);
		/* a read already under way in a worker cannot be cancelled: it
		 * gets until the deadline to finish */
		while (nflight > 0 && mono_ns() < deadline_ns) {
			struct __kernel_timespec ts = { 0, 10 * 1000 * 1000 };
			struct io_uring_cqe *cqe;
			if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) < 0)
				continue;
			struct uop *u = io_uring_cqe_get_data(cqe);
			int res = cqe->res;
			io_uring_cqe_seen(&ring, cqe);
			if (u)
				uop_step(u, res);
		}
		if (ur_efd >= 0)
			io_uring_unregister_eventfd(&ring);
		io_uring_queue_exit(&ring);
		ring_up = false;
	}
	if (ur_efd >= 0) {
		ae_del(loop, ur_efd);
		close(ur_efd);
		ur_efd = -1;
	}
	/* Still in flight past the deadline: the kernel may yet write into
	 * them, so they stay allocated (and on the list) until exit. */
	if (nflight == 0) {
		free(scratch);
		scratch = NULL;
	}
}

const struct blk_ops blk_uring = {
	.name = "io_uring",
	.start = ur_start,
	.submit = ur_submit,
	.flush = ur_flush,
	.busy = ur_busy,
	.stop = ur_stop,
	.rf_open = AMPED_RF_HELPER_OPEN,
	.rf_read = AMPED_RF_HELPER_READ,
};
