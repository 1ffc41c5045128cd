/* helper — the blocking work of AMPED, and where it runs.
 *
 * AMPED: cfg.helpers helper processes, each joined to the dispatcher by a
 * SOCK_SEQPACKET socketpair (Flash used pipes; a socketpair can also carry
 * file descriptors, so a helper opens the file and hands the fd back with
 * SCM_RIGHTS).  One job per helper at a time; extra jobs wait in a FIFO.
 * A completion is an ordinary readable event on the helper's socket.
 * A helper that dies (EOF on its socket) is replaced; its job is retried
 * once on another helper and then answered with EAGAIN (-> 503).
 *
 * SPED: job_submit() runs the same work inline, blocking the loop, as the
 * paper's SPED server does. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <sys/sdt.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "amped.h"

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

static struct helper *helpers;
static int nhelpers;
static struct job *qhead, *qtail;
static uint32_t next_seq;
static bool stopping;

/* ---------------- the work itself (helper or SPED inline) ---------------- */

static int openat2_beneath(int dirfd, const char *rel, uint64_t flags)
{
	/* RESOLVE_BENEATH refuses "..", absolute symlinks and symlinks that
	 * leave the root (EXDEV); NO_MAGICLINKS refuses /proc-style links. */
	struct open_how how = {
		/* openat2 rejects O_PATH with any flag but a few */
		.flags = flags | O_CLOEXEC | (flags & O_PATH ? 0 : O_NOCTTY),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
}

int path_confinement_check(int root_fd)
{
	int fd = openat2_beneath(root_fd, ".", O_PATH);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* Open rel for reading only if it is a regular file or a directory: look
 * first with O_PATH, which opens nothing (a device or FIFO in the root is
 * never really opened, so no driver side effect and no blocking), then
 * open for real and check it is still the same file.  st gets its stat. */
static int open_beneath(int dirfd, const char *rel, struct stat *st)
{
	int pfd = openat2_beneath(dirfd, rel, O_PATH);
	if (pfd < 0)
		return -1;
	if (fstat(pfd, st) < 0) {
		close(pfd);
		return -1;
	}
	close(pfd);
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)) {
		errno = EACCES;		/* devices, FIFOs, sockets are never served */
		return -1;
	}
	struct stat st2;
	int fd = openat2_beneath(dirfd, rel, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st2) < 0 || st2.st_dev != st->st_dev || st2.st_ino != st->st_ino) {
		close(fd);
		errno = EAGAIN;		/* replaced under us: let the client retry */
		return -1;
	}
	*st = st2;
	return fd;
}

int job_rel_path(const char *key, char *rel, size_t size, int *trailing)
{
	size_t n = strlen(key);

	*trailing = 0;
	/* room for "/index.html" as well */
	if (n == 0 || n + 16 >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(rel, key + 1, n);	/* includes NUL */
	n--;
	if (n == 0 || rel[n - 1] == '/') {
		*trailing = 1;
		if (n > 0)
			rel[--n] = '\0';
	}
	if (n == 0)
		strcpy(rel, ".");
	return 0;
}

void job_run_open(const char *key, int *err, int *kind, int *fd_out, struct stat *st)
{
	char rel[4096 + 16];
	int trailing = 0, fd = -1;

	*err = 0;
	*kind = 0;
	*fd_out = -1;
	/* key is "/" + decoded path, plus "/" when the request had one. */
	if (job_rel_path(key, rel, sizeof(rel), &trailing) < 0) {
		*err = ENAMETOOLONG;
		return;
	}
	fd = open_beneath(root_fd, rel, st);
	if (fd < 0)
		goto fail;
	if (S_ISDIR(st->st_mode)) {
		close(fd);
		fd = -1;
		if (!trailing) {
			*kind = OPEN_REDIRECT;
			return;
		}
		strcat(rel, "/index.html");
		fd = open_beneath(root_fd, rel, st);
		if (fd < 0) {
			if (errno == ENOENT) {
				*kind = OPEN_NOINDEX;
				return;
			}
			goto fail;
		}
		if (S_ISDIR(st->st_mode)) {
			close(fd);
			*kind = OPEN_NOINDEX;
			return;
		}
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		*err = EACCES;		/* devices, FIFOs, sockets are never served */
		return;
	}
	*kind = OPEN_FILE;
	*fd_out = fd;
	return;
fail:
	*err = errno ? errno : EIO;
	if (fd >= 0)
		close(fd);
}

int job_run_read(int fd, uint64_t off, uint64_t len)
{
	static __thread char buf[128 * 1024];

	/* Reading brings the pages into the page cache; the dispatcher then
	 * sends them with sendfile without blocking (Flash's helpers touched
	 * the mapped pages for the same purpose). */
	while (len > 0) {
		size_t want = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		ssize_t r = pread(fd, buf, want, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (r == 0)
			break;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

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
static int tpool_start(void);
static void tpool_stop(uint64_t deadline_ns);
static int tpool_busy;
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
		helper_main(idx, sv[1]);
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

int helpers_start(void)
{
	if (cfg.model == MODEL_AMTED)
		return tpool_start();
	if (cfg.model == MODEL_URING)
		return ur_start();
	if (cfg.model != MODEL_AMPED)
		return 0;
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

void job_finish(struct job *j, int err)
{
	uint64_t service_ns = mono_ns() - j->start_ns;
	j->err = err;
	DTRACE_PROBE5(amped, helper_return, j->req_id, j->helper, j->op, err, service_ns);
	j->helper = -1;
	job_done(j);
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
			job_finish(j, EAGAIN);
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
	job_finish(j, rs.err);
	dispatch();
}

/* ---------------- AMTED: helper threads ----------------
 *
 * The same jobs, run by a pool of threads in the dispatcher's process.  A
 * mutex-protected FIFO feeds them; finished jobs go on a second list and an
 * eventfd, watched by the dispatcher's loop, says so.  Only the dispatcher
 * touches connections and caches: a thread reads the job's inputs (the
 * entry's key or fd, fixed while the job runs) and writes its results. */
static pthread_t *tpool;
static int tpool_n;
static pthread_mutex_t tpool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tpool_cv = PTHREAD_COND_INITIALIZER;
static struct job *tq_head, *tq_tail;	/* waiting for a thread */
static struct job *tdone;		/* finished, newest first */
static bool tpool_quit;
static int tpool_efd = -1;		/* tpool_busy: the dispatcher's count of jobs out */

static void *tpool_main(void *arg)
{
	int idx = (int)(intptr_t)arg;
	char name[16], key[AMPED_PATH_MAX];

	snprintf(name, sizeof(name), AMPED_COMM_HELP "%d", idx);
	prctl(PR_SET_NAME, name);
	pthread_mutex_lock(&tpool_mu);
	for (;;) {
		while (!tq_head && !tpool_quit)
			pthread_cond_wait(&tpool_cv, &tpool_mu);
		if (!tq_head)
			break;
		struct job *j = tq_head;
		tq_head = j->next;
		if (!tq_head)
			tq_tail = NULL;
		/* Inputs are taken while the lock holds off tpool_stop(): once
		 * it has set tpool_quit, the job's connection and file entry
		 * may be freed and the entry's fd closed (a read in progress
		 * keeps its own copy of the fd). */
		int op = j->op, err = 0, kind = 0, ofd = -1, fd = -1;
		uint64_t off = j->off, len = j->len;
		struct stat st = { 0 };
		if (op == AMPED_OP_OPEN)
			snprintf(key, sizeof(key), "%s", j->fe->key);
		else
			fd = fcntl(j->fe->fd, F_DUPFD_CLOEXEC, 0);
		j->helper = idx;
		j->sent_ns = mono_ns();
		pthread_mutex_unlock(&tpool_mu);
		if (op == AMPED_OP_OPEN)
			job_run_open(key, &err, &kind, &ofd, &st);
		else if (fd >= 0)
			err = job_run_read(fd, off, len);
		else
			err = EAGAIN;	/* no fd to spare: send without warming */
		if (fd >= 0)
			close(fd);
		pthread_mutex_lock(&tpool_mu);
		if (tpool_quit) {
			/* abandoned: the dispatcher is gone from this job */
			if (ofd >= 0)
				close(ofd);
			continue;
		}
		j->err = err;
		if (op == AMPED_OP_OPEN) {
			j->kind = kind;
			j->fd = ofd;
			j->st = st;
		}
		j->next = tdone;
		tdone = j;
		uint64_t one = 1;
		if (write(tpool_efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow at our rates */
		}
	}
	pthread_mutex_unlock(&tpool_mu);
	return NULL;
}

static void tpool_readable(struct ae_loop *l, int fd, void *data, int mask)
{
	uint64_t n;
	struct job *list, *rev = NULL;

	if (read(fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&tpool_mu);
	list = tdone;
	tdone = NULL;
	pthread_mutex_unlock(&tpool_mu);
	while (list) {			/* oldest first */
		struct job *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct job *next = rev->next;
		rev->next = NULL;
		tpool_busy--;
		job_finish(rev, rev->err);
		rev = next;
	}
}

static int tpool_start(void)
{
	sigset_t all, old;

	tpool_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (tpool_efd < 0 || ae_set(loop, tpool_efd, AE_READABLE, tpool_readable, NULL) < 0) {
		perror("amped: helper threads' eventfd");
		return -1;
	}
	tpool = calloc((size_t)cfg.helpers, sizeof(*tpool));
	if (!tpool)
		return -1;
	/* threads never take signals: the dispatcher's signalfd does */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (tpool_n = 0; tpool_n < cfg.helpers; tpool_n++) {
		if (pthread_create(&tpool[tpool_n], NULL, tpool_main, (void *)(intptr_t)tpool_n) != 0) {
			perror("amped: starting helper thread");
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			return -1;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

static void tpool_submit(struct job *j)
{
	tpool_busy++;
	DTRACE_PROBE4(amped, helper_handoff, j->req_id, -1, j->op, 1);
	pthread_mutex_lock(&tpool_mu);
	if (tq_tail)
		tq_tail->next = j;
	else
		tq_head = j;
	tq_tail = j;
	pthread_cond_signal(&tpool_cv);
	pthread_mutex_unlock(&tpool_mu);
}

static void tpool_stop(uint64_t deadline_ns)
{
	pthread_mutex_lock(&tpool_mu);
	tpool_quit = true;
	/* jobs not started are dropped: their connections are gone already */
	tq_head = tq_tail = NULL;
	pthread_cond_broadcast(&tpool_cv);
	pthread_mutex_unlock(&tpool_mu);
	for (int i = 0; i < tpool_n; i++) {
		/* a thread in a slow read finishes that read, then sees quit */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t left = deadline_ns > mono_ns() ? deadline_ns - mono_ns() : 0;
		ts.tv_sec += (time_t)(left / 1000000000u);
		ts.tv_nsec += (long)(left % 1000000000u);
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_timedjoin_np(tpool[i], NULL, &ts) != 0)
			pthread_detach(tpool[i]);	/* exit() ends it */
	}
	free(tpool);
	tpool = NULL;
	tpool_n = 0;
	if (tpool_efd >= 0) {
		ae_del(loop, tpool_efd);
		close(tpool_efd);
		tpool_efd = -1;
	}
}

void job_submit(struct job *j)
{
	j->start_ns = mono_ns();
	j->helper = -1;
	j->fd = -1;
	j->next = NULL;
	if (cfg.model == MODEL_AMTED) {
		tpool_submit(j);
		return;
	}
	if (cfg.model == MODEL_URING) {
		ur_submit(j);
		return;
	}
	if (!model_offloads()) {
		if (j->op == AMPED_OP_OPEN)
			job_run_open(j->fe->key, &j->err, &j->kind, &j->fd, &j->st);
		else
			j->err = job_run_read(j->fe->fd, j->off, j->len);
		job_done(j);
		return;
	}
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
void helpers_sweep(void)
{
	if (cfg.model != MODEL_AMPED || stopping)
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
			job_finish(j, EAGAIN);
		}
	}
	dispatch();
}

void helpers_flush(void)
{
	if (cfg.model == MODEL_URING)
		ur_flush();
}

void helpers_child_exited(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int helpers_busy(void)
{
	int n = 0;
	if (cfg.model == MODEL_AMTED)
		return tpool_busy;
	if (cfg.model == MODEL_URING)
		return ur_busy();
	for (int i = 0; i < nhelpers; i++)
		n += helpers[i].job != NULL;
	return n + (qhead != NULL);
}

void helpers_stop(int timeout_ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000ull;

	stopping = true;
	if (cfg.model == MODEL_AMTED) {
		tpool_stop(deadline);
		return;
	}
	if (cfg.model == MODEL_URING) {
		ur_stop(deadline);
		return;
	}
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
