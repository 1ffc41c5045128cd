/* blk_procs — blocking work in helper processes (AMPED).
 *
 * cfg.helpers helper processes, each joined to the dispatcher by a
 * SOCK_SEQPACKET socketpair (Flash used pipes; a socketpair can also carry
 * file descriptors, so a helper opens the file and hands the fd back with
 * SCM_RIGHTS).  One job per helper at a time; extra jobs wait in a FIFO.
 * A completion is an ordinary readable event on the helper's socket.
 * A helper that dies (EOF on its socket) is replaced; its job is retried
 * once on another helper and then answered with EAGAIN (-> 503).
 *
 * One instance per dispatcher thread (--dispatchers): the state below is
 * thread-local, and only the thread that owns the loop touches it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/sdt.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ae.h"
#include "blk.h"
#include "fcache.h"
#include "proc.h"

struct hmsg_req {
	uint32_t op;
	uint32_t seq;
	uint64_t off;
	uint64_t len;
	char path[AMPED_PATH_MAX];
};

struct hmsg_res {
	uint32_t seq;
	int32_t err;
	int32_t kind;
	int32_t pad;
	struct stat st;
};

struct helper {
	pid_t pid;
	int fd;			/* dispatcher's end; -1 if dead */
	struct job *job;	/* in service */
};

static __thread struct helper *helpers;
static __thread int nhelpers;
static __thread struct job *qhead, *qtail;
static __thread uint32_t next_seq;
static __thread bool stopping;

/* ---------------- helper process ---------------- */

static int send_with_fd(int sock, const void *buf, size_t len, int fd)
{
	struct iovec iov = { (void *)buf, len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	for (;;) {
		ssize_t r = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (r >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Returns bytes received (0 at EOF, -1 error); *fd gets a passed fd or -1. */
static ssize_t recv_with_fd(int sock, void *buf, size_t len, int *fd)
{
	struct iovec iov = { buf, len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t r;

	*fd = -1;
	do
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	}
	return r;
}

static void close_all_except(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo > 3)
		syscall(SYS_close_range, 3, lo - 1, 0);
	if (hi > lo + 1)
		syscall(SYS_close_range, lo + 1, hi - 1, 0);
	syscall(SYS_close_range, hi + 1, ~0U, 0);
}

static void helper_main(int idx, int sock)
{
	struct hmsg_req rq;
	struct hmsg_res rs;
	char name[16];
	sigset_t all;

	snprintf(name, sizeof(name), AMPED_COMM_HELP "%d", idx);
	prctl(PR_SET_NAME, name);
	/* A helper must not outlive its dispatcher. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(0);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_IGN);	/* ^C goes to the group; the dispatcher decides */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	close_all_except(sock, root_fd);

	for (;;) {
		int fd;
		ssize_t r = recv_with_fd(sock, &rq, sizeof(rq), &fd);
		if (r <= 0)
			_exit(0);	/* dispatcher gone or shutting down */
		memset(&rs, 0, sizeof(rs));
		rs.seq = rq.seq;
		if (rq.op == AMPED_OP_OPEN) {
			int ofd = -1;
			rq.path[sizeof(rq.path) - 1] = '\0';
			job_run_open(rq.path, &rs.err, &rs.kind, &ofd, &rs.st);
			if (send_with_fd(sock, &rs, sizeof(rs), ofd) < 0)
				_exit(1);
			if (ofd >= 0)
				close(ofd);
		} else {
			rs.err = fd < 0 ? EBADF : job_run_read(fd, rq.off, rq.len);
			if (fd >= 0)
				close(fd);
			if (send_with_fd(sock, &rs, sizeof(rs), -1) < 0)
				_exit(1);
		}
	}
}

/* ---------------- dispatcher side ---------------- */

static void helper_readable(struct ae_loop *l, int fd, void *data, int mask);
static void dispatch(void);

static int spawn(int idx)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		/* numbered across the process's dispatchers; a helper's
		 * parent is the dispatcher thread that forked it, so
		 * PR_SET_PDEATHSIG ends it with that thread */
		helper_main(disp_index * cfg.helpers + idx, sv[1]);
		_exit(0);
	}
	close(sv[1]);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	helpers[idx].pid = pid;
	helpers[idx].fd = sv[0];
	helpers[idx].job = NULL;
	if (ae_set(loop, sv[0], AE_READABLE, helper_readable, &helpers[idx]) < 0) {
		close(sv[0]);
		helpers[idx].fd = -1;
		return -1;
	}
	return 0;
}

static int procs_start(void)
{
	nhelpers = cfg.helpers;
	helpers = calloc((size_t)nhelpers, sizeof(*helpers));
	if (!helpers)
		return -1;
	for (int i = 0; i < nhelpers; i++) {
		helpers[i].fd = -1;
		if (spawn(i) < 0) {
			perror("amped: starting helper");
			return -1;
		}
	}
	return 0;
}

static void helper_died(struct helper *h)
{
	int idx = (int)(h - helpers);
	struct job *j = h->job;

	ae_del(loop, h->fd);
	close(h->fd);
	h->fd = -1;
	h->job = NULL;
	if (cfg.verbose)
		fprintf(stderr, "amped: helper %d (pid %d) died\n", idx, (int)h->pid);
	if (!stopping && spawn(idx) < 0)
		perror("amped: restarting helper (retried every 100 ms)");
	if (j) {
		if (++j->tries < 2) {
			/* retry first, ahead of queued work */
			j->next = qhead;
			qhead = j;
			if (!qtail)
				qtail = j;
		} else {
			if (j->fd >= 0)
				close(j->fd);
			j->fd = -1;
			blk_complete(j, EAGAIN);
		}
	}
	dispatch();
}

static int send_job(struct helper *h, struct job *j)
{
	struct hmsg_req rq;
	size_t len = offsetof(struct hmsg_req, path);

	rq.op = (uint32_t)j->op;
	rq.seq = j->seq = ++next_seq;
	rq.off = j->off;
	rq.len = j->len;
	if (j->op == AMPED_OP_OPEN) {
		size_t n = j->fe->key_len + 1;
		if (n > sizeof(rq.path))
			n = sizeof(rq.path);
		memcpy(rq.path, j->fe->key, n);
		rq.path[n - 1] = '\0';
		len += n;
	}
	h->job = j;
	j->helper = (int)(h - helpers);
	if (send_with_fd(h->fd, &rq, len, j->op == AMPED_OP_READ ? j->fe->fd : -1) < 0)
		return -1;
	DTRACE_PROBE4(amped, helper_handoff, j->req_id, j->helper, j->op, 0);
	j->sent_ns = mono_ns();
	return 0;
}

static void dispatch(void)
{
	for (int i = 0; i < nhelpers && qhead; i++) {
		struct helper *h = &helpers[i];
		if (h->fd < 0 || h->job)
			continue;
		struct job *j = qhead;
		qhead = j->next;
		if (!qhead)
			qtail = NULL;
		j->next = NULL;
		if (send_job(h, j) < 0) {
			helper_died(h);
			return;		/* helper_died re-dispatches */
		}
	}
}

static void helper_readable(struct ae_loop *l, int fd, void *data, int mask)
{
	struct helper *h = data;
	struct hmsg_res rs;
	int pfd;
	ssize_t r = recv_with_fd(fd, &rs, sizeof(rs), &pfd);

	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (r <= 0) {
		helper_died(h);
		return;
	}
	struct job *j = h->job;
	if (!j || (size_t)r != sizeof(rs) || rs.seq != j->seq) {
		if (pfd >= 0)
			close(pfd);
		return;			/* a stale answer: ignore */
	}
	h->job = NULL;
	j->kind = rs.kind;
	j->st = rs.st;
	j->fd = pfd;
	if (j->op == AMPED_OP_OPEN && rs.err == 0 && rs.kind == OPEN_FILE && pfd < 0)
		rs.err = EMFILE;	/* the fd did not arrive (no room for it here) */
	blk_complete(j, rs.err);
	dispatch();
}

static void procs_submit(struct job *j)
{
	if (qtail)
		qtail->next = j;
	else
		qhead = j;
	qtail = j;
	DTRACE_PROBE4(amped, helper_handoff, j->req_id, -1, j->op, 1);
	dispatch();
}

static int helpers_alive(void)
{
	int n = 0;
	for (int i = 0; i < nhelpers; i++)
		n += helpers[i].fd >= 0;
	return n;
}

/* Every 100 ms: replace helpers that could not be restarted when they died;
 * if none is alive, queued work is answered with 503 rather than waiting. */
static void procs_tick(void)
{
	if (stopping)
		return;
	for (int i = 0; i < nhelpers; i++)
		if (helpers[i].fd < 0 && spawn(i) < 0)
			break;
	if (helpers_alive() == 0) {
		while (qhead) {
			struct job *j = qhead;
			qhead = j->next;
			if (!qhead)
				qtail = NULL;
			j->next = NULL;
			blk_complete(j, EAGAIN);
		}
	}
	dispatch();
}

static int procs_busy(void)
{
	int n = 0;
	for (int i = 0; i < nhelpers; i++)
		n += helpers[i].job != NULL;
	return n + (qhead != NULL);
}

static void procs_stop(uint64_t deadline)
{
	stopping = true;
	for (int i = 0; i < nhelpers; i++) {
		if (helpers[i].fd >= 0) {
			ae_del(loop, helpers[i].fd);
			close(helpers[i].fd);	/* EOF: the helper exits */
			helpers[i].fd = -1;
		}
	}
	for (int i = 0; i < nhelpers; i++) {
		pid_t pid = helpers[i].pid;
		if (pid <= 0)
			continue;
		for (;;) {
			pid_t r = waitpid(pid, NULL, WNOHANG);
			if (r == pid || (r < 0 && errno == ECHILD))
				break;
			if (mono_ns() > deadline) {
				kill(pid, SIGKILL);	/* our own child, by pid */
				waitpid(pid, NULL, 0);
				break;
			}
			usleep(1000);
		}
		helpers[i].pid = 0;
	}
	free(helpers);
	helpers = NULL;
	nhelpers = 0;
}

const struct blk_ops blk_procs = {
	.name = "helper processes",
	.start = procs_start,
	.submit = procs_submit,
	.tick = procs_tick,
	.busy = procs_busy,
	.stop = procs_stop,
	.rf_open = AMPED_RF_HELPER_OPEN,
	.rf_read = AMPED_RF_HELPER_READ,
};
